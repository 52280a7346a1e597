"""Two models compared on the same tasks, with how sure the comparison is.

A held-out set of a few dozen tasks makes a point estimate a coin toss: one task moves
macro-F1 by several points. So both models' answers are kept per task, as counts of hits,
false alarms and misses per label, and the difference of the metric (challenger minus
champion) is resampled over tasks, in pairs (a paired bootstrap): its spread says which
differences those tasks can tell apart. McNemar's exact test on the tasks only one model
got right is the plain-words figure beside it.

Metrics as `model.evaluation` computes them: macro-F1 over the labels annotated or
predicted for `<Choices>`, micro entity F1 for spans.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

MACRO_F1, ENTITY_F1 = "macro_f1", "entity_f1"
RESAMPLES = 2000


@dataclass(frozen=True)
class TaskCounts:
    """Per task (rows) and label (columns): hits, false alarms, misses; and whether the
    task was answered exactly (every label or entity right, nothing extra)."""

    hits: np.ndarray
    false_alarms: np.ndarray
    misses: np.ndarray

    @property
    def exact(self) -> np.ndarray:
        return (self.false_alarms.sum(1) == 0) & (self.misses.sum(1) == 0)

    def take(self, rows: Sequence[int]) -> TaskCounts:
        index = np.asarray(rows, dtype=int)
        return TaskCounts(self.hits[index], self.false_alarms[index], self.misses[index])

    def joined(self, other: TaskCounts) -> TaskCounts:
        return TaskCounts(
            np.vstack([self.hits, other.hits]),
            np.vstack([self.false_alarms, other.false_alarms]),
            np.vstack([self.misses, other.misses]),
        )


def task_counts(
    predicted: Sequence[Collection[Hashable]],
    annotated: Sequence[Collection[Hashable]],
    labels: Sequence[str],
    label_of=lambda item: item,  # type: ignore[no-untyped-def]
) -> TaskCounts:
    """Counts of one model's answers against the annotations, task by task. An item is a
    chosen label (choices) or a span key (start, end, label); `label_of` names its label."""
    column = {label: i for i, label in enumerate(labels)}
    shape = (len(annotated), len(labels))
    hits, false_alarms, misses = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for row, (guess, gold) in enumerate(zip(predicted, annotated, strict=True)):
        guessed, wanted = set(guess), set(gold)
        for item in guessed & wanted:
            hits[row, column[label_of(item)]] += 1
        for item in guessed - wanted:
            false_alarms[row, column[label_of(item)]] += 1
        for item in wanted - guessed:
            misses[row, column[label_of(item)]] += 1
    return TaskCounts(hits, false_alarms, misses)


def metric_of_sums(hits: np.ndarray, alarms: np.ndarray, misses: np.ndarray, metric: str):  # type: ignore[no-untyped-def]
    """The metric of summed counts; the last axis is the label, leading axes are kept."""
    if metric == ENTITY_F1:
        h, a, m = hits.sum(-1), alarms.sum(-1), misses.sum(-1)
        denominator = 2 * h + a + m
        return np.where(denominator > 0, 2 * h / np.maximum(denominator, 1), 0.0)
    denominator = 2 * hits + alarms + misses
    f1 = np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), 0.0)
    present = denominator > 0  # labels annotated or predicted
    count = present.sum(-1)
    return np.where(count > 0, (f1 * present).sum(-1) / np.maximum(count, 1), 0.0)


def metric(counts: TaskCounts, name: str) -> float:
    return float(
        metric_of_sums(counts.hits.sum(0), counts.false_alarms.sum(0), counts.misses.sum(0), name)
    )


@dataclass(frozen=True)
class PairedDifference:
    """Challenger minus champion on the same tasks, with one-sided bounds at `confidence`:
    the difference is above `lower` (and below `upper`) with that probability."""

    tasks: int
    metric: str
    challenger: float
    champion: float
    difference: float
    lower: float
    upper: float
    confidence: float
    disagreements: int  # tasks whose two answers differ
    challenger_only: int  # tasks only the challenger answered exactly
    champion_only: int  # tasks only the champion answered exactly
    champion_better_p: float  # McNemar, exact, one-sided: the champion is the better one
    # a lower bound that also holds on few tasks: the bootstrap's, or the challenger-only
    # share less the exact (Clopper-Pearson) upper bound of the champion-only share, if
    # lower; on 4 tasks that agree the bootstrap sees no risk, the exact bound sees 44 %
    cautious_lower: float = -1.0


def paired_difference(
    challenger: TaskCounts,
    champion: TaskCounts,
    metric_name: str,
    confidence: float,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    tasks = len(challenger.hits)
    new, old = metric(challenger, metric_name), metric(champion, metric_name)
    if tasks == 0:
        return PairedDifference(0, metric_name, new, old, 0.0, -1.0, 1.0, confidence, 0, 0, 0, 1.0)
    only_new = int((challenger.exact & ~champion.exact).sum())
    only_old = int((champion.exact & ~challenger.exact).sum())
    # each resample as how many times it draws each task: sums are then one product
    weights = np.random.default_rng(seed).multinomial(tasks, [1 / tasks] * tasks, resamples)
    differences = resampled(challenger, weights, metric_name) - resampled(
        champion, weights, metric_name
    )
    lower, upper = np.quantile(differences, [1 - confidence, confidence])
    differ = (
        (challenger.hits != champion.hits).any(1)
        | (challenger.false_alarms != champion.false_alarms).any(1)
        | (challenger.misses != champion.misses).any(1)
    )
    exact_lower = only_new / tasks - binomial_upper(only_old, tasks, confidence)
    return PairedDifference(
        tasks=tasks,
        metric=metric_name,
        challenger=round(new, 4),
        champion=round(old, 4),
        difference=round(new - old, 4),
        lower=round(float(lower), 4),
        upper=round(float(upper), 4),
        confidence=confidence,
        disagreements=int(differ.sum()),
        challenger_only=only_new,
        champion_only=only_old,
        champion_better_p=round(binomial_tail(only_old, only_old + only_new), 4),
        cautious_lower=round(min(float(lower), exact_lower), 4),
    )


def resampled(counts: TaskCounts, weights: np.ndarray, metric_name: str) -> np.ndarray:
    """The metric of each resample (a row of `weights`: how often it draws each task)."""
    return metric_of_sums(
        weights @ counts.hits, weights @ counts.false_alarms, weights @ counts.misses, metric_name
    )


def binomial_tail(successes: int, trials: int) -> float:
    """P(X >= successes) for X ~ Binomial(trials, 1/2): how often a fair coin gives the
    champion this many of the tasks only one of the two models got right."""
    if trials == 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(successes, trials + 1))
    return tail / 2**trials


def binomial_upper(successes: int, trials: int, confidence: float) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound of a rate seen `successes` times in
    `trials`: the largest rate under which so few successes have a chance above
    1 - confidence."""
    if successes >= trials:
        return 1.0

    def at_most(rate: float) -> float:  # P(X <= successes) for X ~ Binomial(trials, rate)
        return sum(
            math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
            for k in range(successes + 1)
        )

    low, high = successes / trials, 1.0
    for _ in range(60):  # bisection: at_most falls as the rate rises
        middle = (low + high) / 2
        low, high = (middle, high) if at_most(middle) > 1 - confidence else (low, middle)
    return high
