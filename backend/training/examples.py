"""Turning Label Studio tasks and their annotations into training examples.

What cannot be used is counted by reason and left out, never fatal: one odd record (an id
that is not a number, an annotation that is not an object, a result that is not a list)
must not fail every later run of its project.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend.label_config import CHOICES, Control
from model.spans import Span

KEY_LENGTH = 120  # characters of a target key before a digest stands in for it


@dataclass
class Examples:
    """The texts and targets of one control tag, with what was left out and why.

    A target is the list of chosen labels for `<Choices>`, the list of spans for `<Labels>`.
    """

    control: str
    task_ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    targets: list[list] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.texts)

    def keys(self) -> dict[int, str]:
        """Task id -> a short text of its target, to tell later whether its label changed."""
        return dict(zip(self.task_ids, map(target_key, self.targets), strict=True))


def target_labels(target: list) -> list[str]:
    """The labels of one target: its choices, or its spans' labels."""
    return [item if isinstance(item, str) else item.label for item in target]


def target_key(target: list) -> str:
    """The target as short, stable text: `Positive`, `A|B`, or `0-5:PER,9-14:LOC` (a
    digest where a long document's spans would make it long)."""
    if all(isinstance(item, str) for item in target):
        return "|".join(sorted(target))
    spans = sorted((s.start, s.end, s.label) for s in target)
    text = ",".join(f"{start}-{end}:{label}" for start, end, label in spans)
    if len(text) > KEY_LENGTH:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text


def record_id(value: object) -> int | None:
    """A task or annotation id as Label Studio writes it (17 or "17"); None if it is not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        return int(value)
    return None


def task_problem(task: object) -> str | None:
    """Why a task cannot be read at all, or None."""
    if not isinstance(task, dict):
        return "task is not an object"
    if record_id(task.get("id") or 0) is None:
        return "task id is not a number"
    if not isinstance(task.get("data") or {}, dict):
        return "task data is not an object"
    if not isinstance(task.get("annotations") or [], list):
        return "task annotations are not a list"
    return None


def annotation_problem(annotation: object) -> str | None:
    """Why an annotation cannot be used whatever the control, or None."""
    if not isinstance(annotation, dict):
        return "annotation is not an object"
    if record_id(annotation.get("id") or 0) is None:
        return "annotation id is not a number"
    if not isinstance(annotation.get("result") or [], list):
        return "annotation result is not a list"
    return None


def annotation_order(annotation: dict) -> tuple[str, int]:
    # ISO 8601 timestamps sort as text; the id breaks ties between equal times.
    stamp = annotation.get("updated_at") or annotation.get("created_at") or ""
    return (str(stamp), record_id(annotation.get("id") or 0) or 0)


def latest_annotation(task: dict, unusable: Counter[str] | None = None) -> dict | None:
    """The newest usable annotation of a task that was not cancelled (skipped) by its
    annotator; annotations that cannot be used are counted in `unusable`."""
    kept = []
    for annotation in task.get("annotations") or []:
        problem = annotation_problem(annotation)
        if problem:
            if unusable is not None:
                unusable[problem] += 1
        elif not annotation.get("was_cancelled"):
            kept.append(annotation)
    return max(kept, key=annotation_order) if kept else None


def results_of(annotation: dict, control: Control) -> list[dict]:
    return [
        item
        for item in annotation.get("result") or []
        if isinstance(item, dict)
        and item.get("from_name") == control.name
        and item.get("type") == control.kind
        and isinstance(item.get("value"), dict)
    ]


def chosen_labels(annotation: dict, control: Control) -> list[str] | None:
    for item in results_of(annotation, control):
        choices = item["value"].get("choices")
        if isinstance(choices, list):
            return [str(choice) for choice in choices]
    return None


def annotated_spans(annotation: dict, control: Control) -> list[Span]:
    """Every labelled region of the control. An annotation without any says the text has
    no entity: a useful example too. Odd spans are the model's to count and drop."""
    spans = []
    for item in results_of(annotation, control):
        value = item["value"]
        start, end = value.get("start"), value.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        labels = value.get("labels")
        for label in labels if isinstance(labels, list) else []:
            spans.append(Span(start, end, str(label), str(value.get("text") or "")))
    return spans


def task_text(task: dict, control: Control) -> str | None:
    text = (task.get("data") or {}).get(control.field)
    return text if isinstance(text, str) and text.strip() else None


def collect_examples(tasks: Iterable[dict], control: Control) -> Examples:
    """One example per task from its latest annotation; anything unusable is counted.
    Tasks are taken in id order, whatever order the source listed them in, so the same
    annotations always train the same model."""
    examples = Examples(control.name)
    readable = []
    for task in tasks:
        problem = task_problem(task)
        if problem:
            examples.skipped[problem] += 1
        else:
            readable.append(task)
    for task in sorted(readable, key=lambda t: record_id(t.get("id") or 0) or 0):
        unusable: Counter[str] = Counter()
        annotation = latest_annotation(task, unusable)
        examples.skipped.update(unusable)
        if annotation is None and unusable:
            continue  # counted as the annotations it has, which cannot be used
        text = task_text(task, control)
        target, reason = target_of(annotation, control)
        if not reason and text is None:
            reason = "task has no text in the field of this control"
        if reason:
            examples.skipped[reason] += 1
            continue
        examples.task_ids.append(record_id(task.get("id") or 0) or 0)
        examples.texts.append(text)  # type: ignore[arg-type]
        examples.targets.append(target)
    return examples


def target_of(annotation: dict | None, control: Control) -> tuple[list, str]:
    """The training target of one annotation, or why there is none."""
    if annotation is None:
        return [], "no annotation that was not cancelled"
    if control.kind != CHOICES:
        return annotated_spans(annotation, control), ""
    labels = chosen_labels(annotation, control)
    if labels is None:
        return [], "annotation has no choice for this control"
    if any(label not in control.labels for label in labels):
        return [], "label not in the label config"
    if not control.multi_label and len(labels) != 1:
        return [], "single-choice annotation with several choices"
    return labels, ""
