"""Held-out tasks: kept out of training to score each version, and to compare the next one
with it on the same tasks.

A task is held out when a hash of project and task id falls in HOLDOUT_SHARE, so it stays on
the same side however the project grows; once held out, it stays held out (the champion's
held-out tasks are kept), so comparisons stay paired; and where a label has fewer than
HOLDOUT_MIN_PER_LABEL held-out tasks, its next tasks in hash order join them, as long as
the label keeps twice as many for training. Below HOLDOUT_MIN_ANNOTATIONS annotated tasks,
every label is needed for training: only tasks held out before stay out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from backend.training.examples import Examples, target_labels


def task_hash(project: int, task_id: int) -> float:
    digest = hashlib.sha256(f"{project}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(project: int, task_id: int, share: float) -> bool:
    return task_hash(project, task_id) < share


def subset(examples: Examples, keep: list[int]) -> Examples:
    part = Examples(examples.control, skipped=examples.skipped)
    part.task_ids = [examples.task_ids[i] for i in keep]
    part.texts = [examples.texts[i] for i in keep]
    part.targets = [examples.targets[i] for i in keep]
    return part


def topped_up(examples: Examples, chosen: set[int], project: int, per_label: int) -> set[int]:
    """`chosen` with, for each label short of `per_label` held-out tasks, its next tasks
    in hash order, while it keeps at least twice `per_label` tasks for training."""
    chosen = set(chosen)
    by_hash = sorted(range(len(examples)), key=lambda i: task_hash(project, examples.task_ids[i]))
    labels_of = [set(target_labels(target)) for target in examples.targets]
    for label in sorted({label for labels in labels_of for label in labels}):
        having = [i for i in by_hash if label in labels_of[i]]
        held = [i for i in having if i in chosen]
        spare = [i for i in having if i not in chosen]
        while len(held) < per_label and len(spare) > 2 * per_label:
            moved = spare.pop(0)
            held.append(moved)
            chosen.add(moved)
    return chosen


def split_examples(
    examples: Examples,
    project: int,
    share: float,
    minimum: int,
    kept: Iterable[int] = (),
    per_label: int = 0,
) -> tuple[Examples, Examples | None]:
    """(training part, held-out part or None). `kept`: task ids held out before (the
    champion's), which stay held out whatever the project's size."""
    if share <= 0:
        return examples, None
    kept = set(kept)
    chosen = {i for i, task in enumerate(examples.task_ids) if task in kept}
    if len(examples) >= minimum:
        chosen |= {
            i for i, task in enumerate(examples.task_ids) if is_held_out(project, task, share)
        }
        chosen = topped_up(examples, chosen, project, per_label)
    if not chosen:
        return examples, None
    train = [i for i in range(len(examples)) if i not in chosen]
    return subset(examples, train), subset(examples, sorted(chosen))
