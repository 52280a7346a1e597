"""Entity-level precision, recall and F1 (CoNLL convention: exact boundaries and label).

A predicted entity counts only if its start, end and label all equal an annotated one's;
a right label on a boundary that is one word off is both a false positive and a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from model.spans import Span


@dataclass(frozen=True)
class EntityScores:
    true_positives: int
    predicted: int
    annotated: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.annotated if self.annotated else 0.0

    @property
    def f1(self) -> float:
        total = self.predicted + self.annotated
        return 2 * self.true_positives / total if total else 0.0


@dataclass(frozen=True)
class SpanEvaluation:
    """Micro-averaged scores over all entities, and the same per label."""

    overall: EntityScores
    per_label: dict[str, EntityScores]


def evaluate_spans(
    predicted: Sequence[Sequence[Span]], annotated: Sequence[Sequence[Span]]
) -> SpanEvaluation:
    """Compare predictions with annotations text by text (lists in the same order)."""
    if len(predicted) != len(annotated):
        raise ValueError(f"{len(predicted)} predictions but {len(annotated)} annotations")
    hits: Counter[str] = Counter()
    guesses: Counter[str] = Counter()
    golds: Counter[str] = Counter()
    for guess, gold in zip(predicted, annotated, strict=True):
        guess_keys, gold_keys = {s.key for s in guess}, {s.key for s in gold}
        guesses.update(key[2] for key in guess_keys)
        golds.update(key[2] for key in gold_keys)
        hits.update(key[2] for key in guess_keys & gold_keys)
    labels = sorted(set(guesses) | set(golds))
    per_label = {label: EntityScores(hits[label], guesses[label], golds[label]) for label in labels}
    overall = EntityScores(sum(hits.values()), sum(guesses.values()), sum(golds.values()))
    return SpanEvaluation(overall, per_label)
