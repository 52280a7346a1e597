"""Held-out scores of a classifier: accuracy, macro-F1 and per-label figures.

Per-label counting is the same as for entities (a label chosen where it was annotated is
a hit), so one `EntityScores` type serves both kinds of model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from model.span_metrics import EntityScores, SpanEvaluation


@dataclass(frozen=True)
class ChoiceEvaluation:
    accuracy: float  # share of texts whose chosen labels equal the annotated ones
    per_label: dict[str, EntityScores]

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the labels that were annotated or predicted: rare labels weigh as
        much as frequent ones, which accuracy hides."""
        scores = [s.f1 for s in self.per_label.values()]
        return sum(scores) / len(scores) if scores else 0.0


def evaluate_choices(
    predicted: Sequence[Sequence[str]], annotated: Sequence[Sequence[str]]
) -> ChoiceEvaluation:
    if len(predicted) != len(annotated):
        raise ValueError(f"{len(predicted)} predictions but {len(annotated)} annotations")
    hits: Counter[str] = Counter()
    guesses: Counter[str] = Counter()
    golds: Counter[str] = Counter()
    exact = 0
    for guess, gold in zip(predicted, annotated, strict=True):
        guess_set, gold_set = set(guess), set(gold)
        exact += guess_set == gold_set
        guesses.update(guess_set)
        golds.update(gold_set)
        hits.update(guess_set & gold_set)
    labels = sorted(set(guesses) | set(golds))
    per_label = {label: EntityScores(hits[label], guesses[label], golds[label]) for label in labels}
    return ChoiceEvaluation(exact / len(annotated) if annotated else 0.0, per_label)


def scores_record(scores: EntityScores) -> dict[str, float | int]:
    return {
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
        "support": scores.annotated,
    }


def evaluation_record(evaluation: ChoiceEvaluation | SpanEvaluation) -> dict:
    """What a model version stores about its held-out quality, ready for JSON."""
    per_label = {label: scores_record(s) for label, s in evaluation.per_label.items()}
    if isinstance(evaluation, ChoiceEvaluation):
        return {
            "metric": "macro_f1",
            "value": round(evaluation.macro_f1, 4),
            "accuracy": round(evaluation.accuracy, 4),
            "per_label": per_label,
        }
    overall = scores_record(evaluation.overall)
    return {"metric": "entity_f1", "value": overall["f1"], **overall, "per_label": per_label}
