"""Scores that mean what they say: temperature scaling, and its expected calibration error.

The pair stage (SetFit) leaves classifiers with steep probabilities: a model right on 80 %
of texts says 0.97 on most of them. Annotators sort by these scores, uncertainty sampling
serves by them and label quality control ranks by them, so each version divides its logits
by one temperature, fitted on held-out answers it never trained on (Guo et al. 2017: one
parameter, which cannot change which label wins), and records the calibration error before
and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

BINS = 15
BOUNDS = (0.05, 20.0)  # temperatures searched, on a log scale
MIN_EXAMPLES = 10  # fewer held-out answers fit noise: the temperature stays 1


@dataclass(frozen=True)
class Calibration:
    temperature: float
    examples: int  # held-out answers it was fitted on
    ece_before: float | None
    ece_after: float | None
    reason: str = ""  # why it is 1, where it was not fitted


def negative_log_likelihood(
    logits: torch.Tensor, targets: torch.Tensor, multi_label: bool
) -> float:
    if multi_label:
        return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, targets))
    return float(torch.nn.functional.cross_entropy(logits, targets))


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> float:
    """The temperature that minimises the held-out negative log-likelihood: a golden-section
    search on its logarithm (the likelihood is unimodal in it)."""
    low, high = math.log(BOUNDS[0]), math.log(BOUNDS[1])
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(logits / math.exp(log_t), targets, multi_label)

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    for _ in range(60):
        if loss(a) < loss(b):
            high, b = b, a
            a = high - ratio * (high - low)
        else:
            low, a = a, b
            b = low + ratio * (high - low)
    return round(math.exp((low + high) / 2), 4)


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS
) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins
    weighted by how many answers fall in each (Naeini et al. 2015)."""
    if not confidences:
        return 0.0
    total, error = len(confidences), 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        chosen = [
            i for i, c in enumerate(confidences) if low < c <= high or (index == 0 and c == 0.0)
        ]
        if chosen:
            confidence = sum(confidences[i] for i in chosen) / len(chosen)
            accuracy = sum(bool(correct[i]) for i in chosen) / len(chosen)
            error += len(chosen) / total * abs(confidence - accuracy)
    return round(error, 4)


def choice_confidences(
    logits: torch.Tensor, targets: torch.Tensor, multi_label: bool, temperature: float
) -> tuple[list[float], list[bool]]:
    """The confidence of each decision and whether it was right: for single choice the top
    label's probability; for multiple choice every label's yes-or-no, one decision each."""
    scaled = logits / temperature
    if multi_label:
        probabilities = torch.sigmoid(scaled).flatten()
        said = probabilities >= 0.5
        wanted = targets.flatten() >= 0.5
        confidence = torch.where(said, probabilities, 1 - probabilities)
        return confidence.tolist(), (said == wanted).tolist()
    probabilities = torch.softmax(scaled, dim=-1)
    top, chosen = probabilities.max(dim=-1)
    return top.tolist(), (chosen == targets).tolist()


def calibrate(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> Calibration:
    """Fit on held-out logits; the error before and after is measured on the same answers
    (an in-sample figure: the evaluation set says how it carries over)."""
    if len(logits) < MIN_EXAMPLES:
        return Calibration(
            1.0, len(logits), None, None, f"fewer than {MIN_EXAMPLES} held-out answers"
        )
    temperature = fit_temperature(logits, targets, multi_label)
    before = expected_calibration_error(*choice_confidences(logits, targets, multi_label, 1.0))
    after = expected_calibration_error(
        *choice_confidences(logits, targets, multi_label, temperature)
    )
    return Calibration(temperature, len(logits), before, after)
