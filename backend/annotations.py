"""Turning Label Studio tasks and their annotations into training examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend.label_config import ChoicesControl


@dataclass
class Examples:
    """The texts and labels of one control tag, with what was left out and why."""

    control: str
    task_ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.texts)


def annotation_order(annotation: dict) -> tuple[str, int]:
    # ISO 8601 timestamps sort as text; the id breaks ties between equal times.
    stamp = annotation.get("updated_at") or annotation.get("created_at") or ""
    return (str(stamp), int(annotation.get("id") or 0))


def latest_annotation(task: dict) -> dict | None:
    """The newest annotation of a task that was not cancelled (skipped) by its annotator."""
    kept = [
        a
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(kept, key=annotation_order) if kept else None


def chosen_labels(annotation: dict, control: ChoicesControl) -> list[str] | None:
    for item in annotation.get("result") or []:
        if (
            isinstance(item, dict)
            and item.get("from_name") == control.name
            and item.get("type") == "choices"
        ):
            choices = (item.get("value") or {}).get("choices")
            if isinstance(choices, list):
                return [str(choice) for choice in choices]
    return None


def task_text(task: dict, control: ChoicesControl) -> str | None:
    text = (task.get("data") or {}).get(control.field)
    return text if isinstance(text, str) and text.strip() else None


def collect_examples(tasks: Iterable[dict], control: ChoicesControl) -> Examples:
    """One example per task from its latest annotation; anything unusable is counted."""
    examples = Examples(control.name)
    known = set(control.labels)
    for task in tasks:
        annotation = latest_annotation(task)
        labels = chosen_labels(annotation, control) if annotation else None
        text = task_text(task, control)
        reason = skip_reason(annotation, labels, text, known, control.multi_label)
        if reason:
            examples.skipped[reason] += 1
            continue
        examples.task_ids.append(int(task.get("id") or 0))
        examples.texts.append(text)  # type: ignore[arg-type]
        examples.labels.append(labels)  # type: ignore[arg-type]
    return examples


def skip_reason(
    annotation: dict | None,
    labels: list[str] | None,
    text: str | None,
    known: set[str],
    multi_label: bool,
) -> str:
    if annotation is None:
        return "no annotation that was not cancelled"
    if labels is None:
        return "annotation has no choice for this control"
    if text is None:
        return "task has no text in the field of this control"
    if any(label not in known for label in labels):
        return "label not in the label config"
    if not multi_label and len(labels) != 1:
        return "single-choice annotation with several choices"
    return ""
