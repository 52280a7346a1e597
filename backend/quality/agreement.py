"""Agreement between the model and the annotators: what annotators did with each model
version's predictions, and how right those predictions were. Pure functions of the rows of
backend.quality.records.

An annotation made from a prediction (of one control) was:
- `accepted`: its answer equals the prediction's (the same choices; the same entities,
  boundaries and labels);
- `changed`: it differs, but keeps part of the prediction: a region Label Studio marked
  `prediction` or `prediction-changed`, or, where no origin was recorded, a choice or an
  entity in common;
- `replaced`: nothing of it is kept (every region `manual`, or nothing in common).
For spans the same three words also count the predicted entities one by one: kept exactly,
overlapped by an annotated entity of another label or boundary, or gone.

Precision and recall of a version are its predictions against the final annotation (what
training uses) of each task annotated from one of its predictions: never a task it trained
on, since those annotations came before its predictions.

Every figure carries the count it stands on and is null below `min_count`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from backend.label_config import CHOICES, Control
from backend.quality.records import Annotated, Answer, Predicted

ACCEPTED, CHANGED, REPLACED = "accepted", "changed", "replaced"
OUTCOMES = (ACCEPTED, CHANGED, REPLACED)
FROM_PREDICTION = ("prediction", "prediction-changed")


def outcome(answer: Answer, suggested: Answer, origins: tuple[str, ...]) -> str:
    """What one annotation did with the prediction it was made from."""
    if answer == suggested:
        return ACCEPTED
    if origins:
        return CHANGED if any(o in FROM_PREDICTION for o in origins) else REPLACED
    return CHANGED if answer & suggested else REPLACED


def overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def entity_outcome(entity: tuple, answer: Answer) -> str:
    """What became of one predicted entity in the annotation."""
    if entity in answer:
        return ACCEPTED
    return CHANGED if any(overlaps(entity, other) for other in answer) else REPLACED


def share(count: int, total: int, min_count: int) -> float | None:
    return round(count / total, 4) if total >= min_count and total else None


def outcome_figures(counts: Counter[str], min_count: int) -> dict:
    total = sum(counts[o] for o in OUTCOMES)
    figures: dict = {"count": total}
    for name in OUTCOMES:
        figures[name] = {"count": counts[name], "share": share(counts[name], total, min_count)}
    return figures


def rate_figures(hits: int, predicted: int, annotated: int, min_count: int) -> dict:
    return {
        "precision": share(hits, predicted, min_count),
        "recall": share(hits, annotated, min_count),
        "hits": hits,
        "predicted": predicted,
        "annotated": annotated,
    }


def label_of(item: object) -> str:
    return item[2] if isinstance(item, tuple) else str(item)  # type: ignore[index]


def precision_recall(
    pairs: list[tuple[Answer, Answer]], labels: Iterable[str], min_count: int
) -> dict:
    """Per label and over all labels (micro): the version's answers (first of each pair)
    against the final annotations (second)."""
    hits: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    annotated: Counter[str] = Counter()
    for guess, gold in pairs:
        predicted.update(map(label_of, guess))
        annotated.update(map(label_of, gold))
        hits.update(map(label_of, guess & gold))
    names = [*labels, *sorted((set(predicted) | set(annotated)) - set(labels))]
    per_label = {
        name: rate_figures(hits[name], predicted[name], annotated[name], min_count)
        for name in names
    }
    overall = rate_figures(
        sum(hits.values()), sum(predicted.values()), sum(annotated.values()), min_count
    )
    return {"tasks": len(pairs), "overall": overall, "per_label": per_label}


def version_rows(
    rows: list[Annotated], predictions: dict[int, Predicted], control: Control
) -> dict[str, list[tuple[Annotated, Predicted]]]:
    """The annotations of the control made from a prediction with an answer for it, by
    the prediction's version."""
    found: dict[str, list[tuple[Annotated, Predicted]]] = defaultdict(list)
    for row in rows:
        made_from = predictions.get(row.prediction) if row.prediction is not None else None
        if row.control == control.name and made_from and control.name in made_from.answers:
            found[made_from.version].append((row, made_from))
    return found


def version_figures(
    made: list[tuple[Annotated, Predicted]],
    finals: dict[int, Answer],
    control: Control,
    min_count: int,
) -> dict:
    """One version's agreement: outcomes over all, by annotator, by label; precision and
    recall against the final annotations of the tasks annotated from its predictions."""
    overall: Counter[str] = Counter()
    by_annotator: dict[str, Counter[str]] = defaultdict(Counter)
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    scored: dict[int, Answer] = {}
    for row, prediction in made:
        suggested = prediction.answers[control.name]
        result = outcome(row.answer, suggested, row.origins)
        overall[result] += 1
        by_annotator[row.annotator][result] += 1
        if control.kind == CHOICES:
            for label in suggested:
                by_label[label][result] += 1
        else:
            for entity in suggested:
                by_label[entity[2]][entity_outcome(entity, row.answer)] += 1
        if row.task in finals:
            scored[row.task] = suggested
    pairs = [(scored[task], finals[task]) for task in sorted(scored)]
    return {
        **outcome_figures(overall, min_count),
        "annotators": {a: outcome_figures(c, min_count) for a, c in sorted(by_annotator.items())},
        "labels": {
            label: outcome_figures(by_label[label], min_count)
            for label in [*control.labels, *sorted(set(by_label) - set(control.labels))]
            if label in by_label
        },
        "precision_recall": precision_recall(pairs, control.labels, min_count),
    }


def annotation_outcomes(
    rows: list[Annotated], predictions: dict[int, Predicted], controls: list[Control]
) -> list[dict]:
    """Each annotation made from a prediction, with its outcome: the figures to the task."""
    listed = []
    for control in controls:
        for version, made in version_rows(rows, predictions, control).items():
            for row, prediction in made:
                suggested = prediction.answers[control.name]
                listed.append(
                    {
                        "task": row.task,
                        "annotation": row.annotation,
                        "annotator": row.annotator,
                        "control": control.name,
                        "version": version,
                        "prediction": prediction.id,
                        "outcome": outcome(row.answer, suggested, row.origins),
                    }
                )
    return sorted(listed, key=lambda item: (item["task"], item["annotation"], item["control"]))


def control_agreement(
    rows: list[Annotated], predictions: dict[int, Predicted], control: Control, min_count: int
) -> dict:
    """The agreement of every version with the annotators, for one control."""
    finals = {r.task: r.answer for r in rows if r.control == control.name and r.final}
    versions = version_rows(rows, predictions, control)
    return {
        version: version_figures(made, finals, control, min_count)
        for version, made in sorted(versions.items())
    }
