"""What Label Studio recorded, as plain rows: each annotation's answer per control, the
prediction it was made from, and the predictions of each model version.

An annotation's prediction is its `parent_prediction` (Label Studio's editor sets it when
an annotation starts from a prediction) or else the `prediction` Label Studio stored with
it (the prediction of the project's model version shown at annotation time; the JSON
export has it, `/api/tasks/{id}/annotations` does not). Each region's `origin`
(`prediction`, `prediction-changed`, `manual`) is kept as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from backend.label_config import CHOICES, Control
from backend.store import UNTRAINED
from backend.training.examples import (
    annotation_order,
    annotation_problem,
    record_id,
    results_of,
    task_problem,
)

Answer = frozenset  # chosen labels, or (start, end, label) of each entity


@dataclass(frozen=True)
class Annotated:
    """One annotation's answer for one control."""

    task: int
    annotation: int
    annotator: str  # Label Studio's user id, as text
    control: str
    answer: Answer
    origins: tuple[str, ...]  # `origin` of each of its regions for this control, where set
    prediction: int | None  # id of the prediction it was made from, if any
    final: bool  # the task's newest annotation that was not cancelled: what training uses


@dataclass(frozen=True)
class Predicted:
    """One stored prediction: its version and its answer per control it has results for."""

    id: int
    task: int
    version: str
    answers: dict[str, Answer]


def answer_of(items: list[dict], control: Control) -> Answer:
    if control.kind == CHOICES:
        return frozenset(str(c) for item in items for c in item["value"].get("choices") or [])
    keys: set[tuple[int, int, str]] = set()
    for item in items:
        value = item["value"]
        start, end = value.get("start"), value.get("end")
        if isinstance(start, int) and isinstance(end, int):
            keys.update((start, end, str(label)) for label in value.get("labels") or [])
    return frozenset(keys)


def prediction_of(record: dict, controls: Iterable[Control], task: int | None = None) -> Predicted:
    """A prediction as `/api/predictions` lists it (or as an annotation's `prediction`)."""
    result = [item for item in record.get("result") or [] if isinstance(item, dict)]
    answers = {}
    for control in controls:
        items = results_of({"result": result}, control)
        if items:
            answers[control.name] = answer_of(items, control)
    return Predicted(
        record_id(record["id"]) or 0,
        record_id(record.get("task") or task or 0) or 0,
        str(record.get("model_version") or ""),
        answers,
    )


def predictions_by_id(
    predictions: Iterable[dict], tasks: Iterable[dict], controls: list[Control]
) -> dict[int, Predicted]:
    """Every prediction known, by id: those listed, and those the export stored inline in
    annotations (`prediction`). The backend's placeholder version (no model) is left out."""
    found: dict[int, Predicted] = {}
    for task in tasks:
        if task_problem(task):
            continue
        for annotation in task.get("annotations") or []:
            shown = annotation.get("prediction") if isinstance(annotation, dict) else None
            if isinstance(shown, dict) and (shown_id := record_id(shown.get("id"))) is not None:
                found[shown_id] = prediction_of(shown, controls, record_id(task.get("id")))
    for record in predictions:
        record_key = record_id(record.get("id")) if isinstance(record, dict) else None
        if record_key is not None:
            found[record_key] = prediction_of(record, controls)
    return {i: p for i, p in found.items() if p.version and p.version != UNTRAINED}


def made_from(annotation: dict) -> int | None:
    parent = annotation.get("parent_prediction")
    if isinstance(parent, dict):  # an expanded export
        parent = parent.get("id")
    if parent is not None:
        return record_id(parent)
    shown = annotation.get("prediction")
    return record_id(shown.get("id")) if isinstance(shown, dict) else None


def annotator_of(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("id") or who.get("email")
    return str(who) if who is not None else "unknown"


def annotated(tasks: Iterable[dict], controls: list[Control]) -> list[Annotated]:
    """Every annotation that was not cancelled, per control it answers (or leaves empty:
    a span annotation without regions says the text has no entity)."""
    rows = []
    for task in tasks:
        if task_problem(task):  # counted in the version's left_out by the run itself
            continue
        kept = [
            a
            for a in task.get("annotations") or []
            if not annotation_problem(a) and not a.get("was_cancelled")
        ]
        newest = max(kept, key=annotation_order) if kept else None
        for annotation in kept:
            for control in controls:
                items = results_of(annotation, control)
                if not items and control.kind == CHOICES:
                    continue  # no choice made for this control
                rows.append(
                    Annotated(
                        task=record_id(task["id"]) or 0,
                        annotation=record_id(annotation.get("id") or 0) or 0,
                        annotator=annotator_of(annotation),
                        control=control.name,
                        answer=answer_of(items, control),
                        origins=tuple(str(i["origin"]) for i in items if i.get("origin")),
                        prediction=made_from(annotation),
                        final=annotation is newest,
                    )
                )
    return rows
