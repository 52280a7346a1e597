"""Entity-level precision, recall and F1 (CoNLL convention: exact boundaries and label).

A predicted entity counts only if its start, end and label all equal an annotated one's;
a right label on a boundary that is one word off is both a false positive and a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
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


def per_label_scores(
    predicted: Sequence[set[Hashable]],
    annotated: Sequence[set[Hashable]],
    label_of: Callable[[Hashable], str],
) -> dict[str, EntityScores]:
    """Hits, guesses and truths per label, item by item (lists in the same order): an
    item's predicted key counts as a hit when the same key was annotated for that item."""
    if len(predicted) != len(annotated):
        raise ValueError(f"{len(predicted)} predictions but {len(annotated)} annotations")
    hits: Counter[str] = Counter()
    guesses: Counter[str] = Counter()
    golds: Counter[str] = Counter()
    for guess, gold in zip(predicted, annotated, strict=True):
        guesses.update(map(label_of, guess))
        golds.update(map(label_of, gold))
        hits.update(map(label_of, guess & gold))
    labels = sorted(set(guesses) | set(golds))
    return {label: EntityScores(hits[label], guesses[label], golds[label]) for label in labels}


def evaluate_spans(
    predicted: Sequence[Sequence[Span]], annotated: Sequence[Sequence[Span]]
) -> SpanEvaluation:
    """Compare predictions with annotations text by text (lists in the same order)."""
    per_label = per_label_scores(
        [{s.key for s in guess} for guess in predicted],
        [{s.key for s in gold} for gold in annotated],
        lambda key: key[2],  # type: ignore[index]
    )
    scores = per_label.values()
    overall = EntityScores(
        sum(s.true_positives for s in scores),
        sum(s.predicted for s in scores),
        sum(s.annotated for s in scores),
    )
    return SpanEvaluation(overall, per_label)
