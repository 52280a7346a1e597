"""Temperature scaling and the expected calibration error, on hand-made cases; and a
version's record of its calibration, on the tiny model and a real Redis."""

from __future__ import annotations

import math

import pytest
import torch

from model.calibration import (
    MIN_EXAMPLES,
    calibrate,
    choice_confidences,
    expected_calibration_error,
    fit_temperature,
)


def test_the_error_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    assert expected_calibration_error([], []) == 0.0
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    # two bins: 0.95 confident and always right (gap 0.05), 0.55 and right half the time
    confidences = [0.95] * 4 + [0.55] * 4
    correct = [True] * 4 + [True, False, True, False]
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.05)
    assert expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)
    # a tie at a bin edge belongs to the lower bin, the way Guo et al. count it
    edge = expected_calibration_error([2 / 15, 0.14], [True, False], bins=15)
    assert edge == pytest.approx(0.5 * (1 - 2 / 15) + 0.5 * 0.14, abs=1e-4)  # rounded to 4


def test_the_fitted_temperature_undoes_a_known_steepness() -> None:
    """Labels drawn from softmax(z), logits given as 3 z: the fit finds about 3, and the
    calibration error falls."""
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 3, generator=generator) * 1.5
    targets = torch.multinomial(torch.softmax(true_logits, -1), 1, generator=generator)[:, 0]
    steep = true_logits * 3
    temperature = fit_temperature(steep, targets, multi_label=False)
    assert temperature == pytest.approx(3.0, rel=0.1)
    found = calibrate(steep, targets, multi_label=False)
    assert found.ece_after < 0.02 < found.ece_before
    assert found.examples == 4000 and found.temperature == temperature


def test_multi_label_decisions_are_calibrated_label_by_label() -> None:
    generator = torch.Generator().manual_seed(1)
    true_logits = torch.randn(3000, 4, generator=generator)
    targets = torch.bernoulli(torch.sigmoid(true_logits), generator=generator)
    temperature = fit_temperature(true_logits * 0.5, targets, multi_label=True)
    assert temperature == pytest.approx(0.5, rel=0.15)  # too flat: sharpened
    confidences, correct = choice_confidences(true_logits, targets, True, 1.0)
    assert len(confidences) == len(correct) == 3000 * 4 and min(confidences) >= 0.5


def test_few_answers_leave_the_temperature_alone() -> None:
    logits = torch.tensor([[5.0, 0.0]] * (MIN_EXAMPLES - 1))
    found = calibrate(logits, torch.zeros(MIN_EXAMPLES - 1, dtype=torch.long), False)
    assert found.temperature == 1.0 and "fewer than" in found.reason
    assert found.ece_before is None and math.isclose(found.temperature, 1.0)
