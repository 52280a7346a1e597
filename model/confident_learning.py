"""Confident learning (Northcutt, Jiang and Chuang, 2021): which given labels are likely
wrong, from out-of-fold predicted probabilities.

The same arithmetic as cleanlab 2.9's `find_label_issues(filter_by="confident_learning")`,
`rank.get_label_quality_scores` (self-confidence, normalized margin) and
`token_classification.rank.get_label_quality_scores` (tokens, the sentence's minimum),
written here in numpy: cleanlab brings pandas, scipy and scikit-learn (about 290 MB) into
a worker that needs forty lines of them. tests/test_confident_learning.py checks both give
the same answers where cleanlab is installed (the test extra has it).

`probabilities` rows must come from a model that never trained on their example (out of
fold): a model that learnt a wrong label from the example itself vouches for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SELF_CONFIDENCE, NORMALIZED_MARGIN = "self_confidence", "normalized_margin"
# cleanlab's constants: a class nobody was given never gets a confident example; a
# threshold is never zero; ties at the threshold and at the argmax count for the label
MISSING_CLASS_THRESHOLD = 2.0
LOWEST_THRESHOLD = 2e-6
TOLERANCE = 1e-6


def confident_thresholds(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per class, the mean probability of that class over the examples given it: a model
    that is right about a class is at least this sure of it, on average."""
    thresholds = [
        probabilities[labels == k, k].mean() if (labels == k).any() else MISSING_CLASS_THRESHOLD
        for k in range(probabilities.shape[1])
    ]
    return np.clip(np.asarray(thresholds), LOWEST_THRESHOLD, None)


def label_issues(labels: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """A mask of the examples whose given label is likely wrong: those confidently of
    another class (above that class's threshold; of several, the likeliest), on which the
    model's own best guess is not the given label either (the off-diagonal of the
    confident joint, less the model's agreements)."""
    given = np.asarray(labels, dtype=int)
    probs = np.asarray(probabilities, dtype=float)
    if len(given) == 0:
        return np.zeros(0, dtype=bool)
    confident = probs >= confident_thresholds(given, probs) - TOLERANCE
    count = confident.sum(axis=1)
    guess = np.where(count > 1, probs.argmax(axis=1), confident.argmax(axis=1))
    issues = (count > 0) & (guess != given)
    favoured = probs.copy()
    favoured[np.arange(len(given)), given] += TOLERANCE
    return issues & (favoured.argmax(axis=1) != given)


def label_quality(
    labels: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    method: str = SELF_CONFIDENCE,
) -> np.ndarray:
    """How likely each given label is right, from 0 to 1: the probability of the given
    class (self-confidence), or its margin over the likeliest other class mapped onto 0-1
    (normalized margin). The two rank binary labels alike."""
    given = np.asarray(labels, dtype=int)
    probs = np.asarray(probabilities, dtype=float)
    own = probs[np.arange(len(given)), given]
    if method == SELF_CONFIDENCE:
        return own
    if method != NORMALIZED_MARGIN:
        raise ValueError(f"unknown label quality method {method!r}")
    others = probs.copy()
    others[np.arange(len(given)), given] = -np.inf
    return (own - others.max(axis=1) + 1) / 2


@dataclass(frozen=True)
class TokenQuality:
    """Per sequence, its worst token's label quality and that token's position, and
    whether confident learning flags any of its tokens (and which)."""

    scores: np.ndarray  # per sequence: the minimum token quality (1.0 with no token)
    worst: list[int | None]  # per sequence: the position of that token
    issues: list[list[int]]  # per sequence: positions of flagged tokens


def token_quality(
    labels: Sequence[Sequence[int]], probabilities: Sequence[np.ndarray]
) -> TokenQuality:
    """Label quality of token-tagged sequences (cleanlab's token classification): every
    token scored by self-confidence, thresholds and flags computed over all tokens at once,
    a sequence scored by its worst token."""
    lengths = [len(row) for row in labels]
    flat_labels = np.asarray([label for row in labels for label in row], dtype=int)
    tables = [np.asarray(p, dtype=float) for p in probabilities if len(p)]
    flat = np.vstack(tables) if flat_labels.size else np.zeros((0, 1))
    quality = label_quality(flat_labels, flat) if flat_labels.size else np.zeros(0)
    flagged = label_issues(flat_labels, flat) if flat_labels.size else np.zeros(0, dtype=bool)
    scores, worst, issues, start = [], [], [], 0
    for length in lengths:
        own, marks = quality[start : start + length], flagged[start : start + length]
        scores.append(float(own.min()) if length else 1.0)
        worst.append(int(own.argmin()) if length else None)
        issues.append([int(i) for i in np.flatnonzero(marks)])
        start += length
    return TokenQuality(np.asarray(scores), worst, issues)
