"""The suspect-label queue: every annotated task of each control scored for how likely its
label is wrong, from out-of-fold probabilities (model.out_of_fold) under confident
learning (model.confident_learning), most suspect first.

`<Choices>`: each text's mean-pooled embedding from the encoder of the version the run
just trained (QUALITY_ENCODER=version) or from BASE_MODEL (`base`), and a linear probe
refitted per fold. `<Labels>`: each word's contextual state from BASE_MODEL's encoder,
beside its neighbours', and a probe of its entity type (O, PER, ...) refitted per fold (a
tagger per fold would cost minutes); a task is as suspect as its least likely word.

A task's `score` is 1 - the label quality (0: the model agrees, 1: it is sure of another
label); `suspect` marks, among the top QUALITY_SUSPECT_SHARE of the annotated tasks, those
confident learning flags or to whose label the probe gives less than even odds: the tasks
Label Studio's view lists and the gate leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.label_config import CHOICES, Control
from backend.training.examples import Examples, collect_examples, latest_annotation, target_key
from model.spans import Span

BASE, VERSION = "base", "version"
OUTSIDE = "O"
# below this label quality the out-of-fold probe prefers another label: a suspect even where
# confident learning, which also wants the other label above its class's usual confidence,
# holds back
EVEN_ODDS = 0.5


@dataclass(frozen=True)
class Scored:
    """One control's verdict on one task's label."""

    task: int
    annotation: int
    control: str
    given: list
    suggested: list
    score: float  # 1 - label quality
    issue: bool  # confident learning flags it, or the probe gives it less than even odds
    key: str  # the target scored, to tell later whether it changed

    def to_dict(self, suspect: bool) -> dict:
        return {
            "task": self.task,
            "annotation": self.annotation,
            "control": self.control,
            "given": self.given,
            "suggested": self.suggested,
            "score": round(self.score, 4),
            "suspect": suspect,
        }


def annotation_ids(tasks: list[dict]) -> dict[int, int]:
    """Task id -> the id of the annotation training used (its newest not cancelled)."""
    found = {}
    for task in tasks:
        annotation = latest_annotation(task)
        if annotation is not None:
            found[int(task["id"])] = int(annotation.get("id") or 0)
    return found


def features_model(control: Control, base_model: str, version_folder: Path | None, device: str):  # type: ignore[no-untyped-def]
    """The classifier whose encoder gives the features: the version's own (choices, where
    asked and trained), else the base model's."""
    from model.classifier import TextClassifier
    from model.labels import LabelSpace

    if control.kind == CHOICES and version_folder is not None:
        return TextClassifier.load(version_folder, device)
    return TextClassifier.from_base(base_model, LabelSpace((OUTSIDE,)), 128, device)


def binary(probabilities: np.ndarray) -> np.ndarray:
    """One label's probability as the two columns (absent, present) of a binary problem."""
    return np.stack([1 - probabilities, probabilities], axis=1)


def choice_verdicts(
    examples: Examples, control: Control, model
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:  # type: ignore[no-untyped-def]
    """Per task: label quality, confident learning's flag, the labels the probe suggests.
    Multiple choice: each label as a yes/no problem; a task is as good as its worst."""
    from model.confident_learning import label_issues, label_quality
    from model.labels import LabelSpace
    from model.out_of_fold import out_of_fold, text_features
    from model.training import targets_tensor

    space = LabelSpace(control.labels, control.multi_label)
    features = text_features(model, examples.texts)
    probs = out_of_fold(features, targets_tensor(examples.targets, space), space, examples.task_ids)
    if not control.multi_label:
        given = [space.index(target[0]) for target in examples.targets]
        suggested = [[space.labels[int(row.argmax())]] for row in probs]
        return label_quality(given, probs), label_issues(given, probs), suggested
    chosen = np.asarray([space.target(target) for target in examples.targets], dtype=int)
    qualities = [label_quality(chosen[:, j], binary(probs[:, j])) for j in range(space.size)]
    flags = [label_issues(chosen[:, j], binary(probs[:, j])) for j in range(space.size)]
    suggested = [[space.labels[j] for j in np.flatnonzero(row >= 0.5)] for row in probs]
    return np.min(qualities, axis=0), np.any(flags, axis=0), suggested


def word_classes(
    offsets: list[tuple[int, int]], spans: list[Span], labels: tuple[str, ...]
) -> list[int]:
    """Each word's class: 0 outside every entity, else 1 + its entity's label index."""
    classes = []
    for start, end in offsets:
        inside = [s for s in spans if s.start < end and start < s.end and s.label in labels]
        classes.append(1 + labels.index(inside[0].label) if inside else 0)
    return classes


def decoded(offsets: list[tuple[int, int]], classes: list[int], labels: tuple[str, ...]) -> set:
    """The entities of a word-class sequence: each run of words of one class."""
    found, run = set(), None
    for (start, end), cls in zip([*offsets, (0, 0)], [*classes, 0], strict=True):
        if run is not None and cls != run[2]:
            found.add((run[0], run[1], labels[run[2] - 1]))
            run = None
        if cls and run is None:
            run = [start, end, cls]
        elif cls and run is not None:
            run[1] = end
    return found


def span_list(text: str, keys: set) -> list[dict]:
    return [
        {"start": s, "end": e, "label": label, "text": text[s:e]} for s, e, label in sorted(keys)
    ]


def span_verdicts(
    examples: Examples, control: Control, model
) -> tuple[np.ndarray, np.ndarray, list[tuple[list, list]]]:  # type: ignore[no-untyped-def]
    """Per task: its worst word's label quality, whether any word is flagged, and the
    entities where annotation and probe differ (given, suggested)."""
    import torch

    from model.confident_learning import token_quality
    from model.labels import LabelSpace
    from model.out_of_fold import out_of_fold, word_features

    labels = tuple(control.labels)
    words = word_features(model, examples.texts)
    classes = [
        word_classes(o, t, labels) for o, t in zip(words.offsets, examples.targets, strict=True)
    ]
    owners = [examples.task_ids[i] for i, row in enumerate(classes) for _ in row]
    flat = torch.tensor([c for row in classes for c in row], dtype=torch.long)
    features = torch.cat(words.rows) if owners else torch.zeros(0, 1)
    probs = out_of_fold(features, flat, LabelSpace((OUTSIDE, *labels)), owners)
    per_text, start = [], 0
    for row in classes:
        per_text.append(probs[start : start + len(row)])
        start += len(row)
    verdict = token_quality(classes, per_text)
    differences = []
    for i, text in enumerate(examples.texts):
        given = {s.key for s in examples.targets[i] if s.label in labels}
        guess = decoded(words.offsets[i], [int(r.argmax()) for r in per_text[i]], labels)
        differences.append((span_list(text, given - guess), span_list(text, guess - given)))
    return verdict.scores, np.asarray([bool(f) for f in verdict.issues]), differences


def control_queue(
    tasks: list[dict],
    control: Control,
    base_model: str,
    version_folder: Path | None,
    device: str,
) -> list[Scored]:
    """The control's annotated tasks, each scored (none below two usable annotations)."""
    examples = collect_examples(tasks, control)
    if len(examples) < 2:
        return []
    model = features_model(control, base_model, version_folder, device)
    if control.kind == CHOICES:
        quality, issues, suggested = choice_verdicts(examples, control, model)
        given = [list(target) for target in examples.targets]
    else:
        quality, issues, pairs = span_verdicts(examples, control, model)
        given, suggested = [g for g, _ in pairs], [s for _, s in pairs]
    annotations = annotation_ids(tasks)
    return [
        Scored(
            task=task,
            annotation=annotations.get(task, 0),
            control=control.name,
            given=given[i],
            suggested=suggested[i],
            score=float(1 - quality[i]),
            issue=bool(issues[i]) or bool(quality[i] < EVEN_ODDS),
            key=target_key(examples.targets[i]),
        )
        for i, task in enumerate(examples.task_ids)
    ]


def ranked(scored: list[Scored], share: float) -> tuple[list[dict], list[Scored]]:
    """The queue as `/quality` lists it, most suspect first (ties by task id), and the
    suspects: flagged tasks within the top `share` of annotated tasks."""
    order = sorted(scored, key=lambda s: (-s.score, s.task, s.control))
    cut = round(share * len({s.task for s in scored}))
    suspects = [s for rank, s in enumerate(order) if s.issue and rank < cut]
    chosen = {id(s) for s in suspects}
    return [s.to_dict(id(s) in chosen) for s in order], suspects
