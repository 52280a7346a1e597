"""What a model said of each task, as a set: the chosen labels of a `<Choices>`, the
(start, end, label) of each entity of a `<Labels>`; and the scores and per-task counts of
such answers against the annotations."""

from __future__ import annotations

from collections.abc import Sequence

from backend.label_config import CHOICES, Control
from backend.training.examples import Examples
from model.paired import ENTITY_F1, MACRO_F1, TaskCounts, task_counts

Answer = frozenset


def answers(model, control: Control, texts: Sequence[str]) -> list[Answer]:  # type: ignore[no-untyped-def]
    if not texts:
        return []
    predictions = model.predict(list(texts))
    if control.kind == CHOICES:
        return [frozenset(p.labels) for p in predictions]
    return [frozenset(span.key for span in p.spans) for p in predictions]


def gold(control: Control, examples: Examples) -> list[Answer]:
    if control.kind == CHOICES:
        return [frozenset(target) for target in examples.targets]
    return [frozenset(span.key for span in target) for target in examples.targets]


def metric_name(control: Control) -> str:
    return MACRO_F1 if control.kind == CHOICES else ENTITY_F1


def columns(control: Control, *answers: Sequence[Answer]) -> list[str]:
    """The labels counted: the config's, then any others the answers hold (spans annotated
    with a label since removed from the config), so nothing is dropped from a score."""
    if control.kind == CHOICES:
        found = {label for group in answers for answer in group for label in answer}
    else:
        found = {key[2] for group in answers for answer in group for key in answer}
    return [*control.labels, *sorted(found - set(control.labels))]


def counts(
    control: Control, given: Sequence[Answer], wanted: Sequence[Answer], labels: list[str]
) -> TaskCounts:
    if control.kind == CHOICES:
        return task_counts(given, wanted, labels)
    return task_counts(given, wanted, labels, label_of=lambda key: key[2])


def scores_of(control: Control, given: Sequence[Answer], examples: Examples) -> dict:
    """The evaluation record (metric, value, per-label figures) of answers to examples."""
    from model.evaluation import evaluate_choices, evaluation_record
    from model.span_metrics import evaluate_spans
    from model.spans import Span

    if control.kind == CHOICES:
        return evaluation_record(evaluate_choices([list(a) for a in given], examples.targets))
    predicted = [[Span(*key) for key in answer] for answer in given]
    return evaluation_record(evaluate_spans(predicted, examples.targets))
