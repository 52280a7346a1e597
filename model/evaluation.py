"""Held-out scores of a classifier: accuracy, macro-F1 and per-label figures.

Per-label counting is the same as for entities (a label chosen where it was annotated is
a hit), so one `EntityScores` type serves both kinds of model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from model.span_metrics import EntityScores, SpanEvaluation, per_label_scores


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
    guesses: list[set[Hashable]] = [set(guess) for guess in predicted]
    golds: list[set[Hashable]] = [set(gold) for gold in annotated]
    per_label = per_label_scores(guesses, golds, str)
    exact = sum(guess == gold for guess, gold in zip(guesses, golds, strict=True))
    return ChoiceEvaluation(exact / len(golds) if golds else 0.0, per_label)


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
