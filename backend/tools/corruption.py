"""Wrong labels on purpose, for replays that ask how the gate and label quality control
cope with them: `lsbert simulate --poison`.

A corrupted task keeps its text and gets, in each control of its latest annotation, one
plausible mistake: another choice for a `<Choices>` (another set of the same size for
multiple choice), and for `<Labels>` one entity with another label or a boundary moved by
one word (each half the time; the boundary one word longer at the right or one word shorter
at the left, whichever the text allows, and another label where it allows neither). Only
tasks with something to make wrong are chosen: a text without an entity has no entity label.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

from backend.label_config import CHOICES, Control
from backend.training.examples import latest_annotation, results_of


@dataclass(frozen=True)
class Poison:
    """From round `first`, a `share` of the tasks annotated so far get a wrong label, for
    `rounds` rounds (0: from then on); the next round after it restores them."""

    first: int
    share: float
    rounds: int = 1

    def active(self, number: int) -> bool:
        return number >= self.first and (self.rounds == 0 or number < self.first + self.rounds)


def corrupted(task: dict, controls: Sequence[Control], rng: random.Random) -> dict:
    """A copy of the task whose latest annotation holds one wrong label per control."""
    task = copy.deepcopy(task)
    annotation = latest_annotation(task)
    if annotation is None:
        return task
    text = next(iter(task.get("data", {}).values()), "")
    for control in controls:
        items = results_of(annotation, control)
        if control.kind == CHOICES:
            for item in items[:1]:
                item["value"]["choices"] = other_choices(item["value"]["choices"], control, rng)
        elif items:
            wrong_span(rng.choice(items)["value"], control, str(text), rng)
    return task


def other_choices(chosen: list[str], control: Control, rng: random.Random) -> list[str]:
    if control.multi_label:
        size = max(1, len(chosen))
        options = [c for c in control.labels if c not in chosen] or list(control.labels)
        return sorted(rng.sample(options, min(size, len(options))))
    return [rng.choice([c for c in control.labels if c not in chosen] or list(control.labels))]


def wrong_span(value: dict, control: Control, text: str, rng: random.Random) -> None:
    labels = [label for label in control.labels if label not in value.get("labels", [])]
    moves = boundary_moves(text, int(value["start"]), int(value["end"]))
    if labels and (not moves or rng.random() < 0.5):
        value["labels"] = [rng.choice(labels)]
        return
    if moves:
        start, end = rng.choice(moves)
        value.update(start=start, end=end, text=text[start:end])


def boundary_moves(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The entity one word longer at the right (where a word follows), one word shorter
    at the left (where it has two): each a real change of boundary."""
    moves = []
    if text[end:].strip():
        after = text.find(" ", end + 1)
        moves.append((start, after if after > end else len(text)))
    inner = text.find(" ", start, end)
    if inner != -1 and text[inner + 1 : end].strip():
        moves.append((inner + 1, end))
    return moves


def corruptible(task: dict, controls: Sequence[Control]) -> bool:
    """Whether the task's latest annotation has a choice or an entity to make wrong."""
    annotation = latest_annotation(task)
    return annotation is not None and any(results_of(annotation, c) for c in controls)
