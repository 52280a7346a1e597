"""A quality estimate for projects too small to hold tasks out: k-fold cross-validation.

Below HOLDOUT_MIN_ANNOTATIONS every annotation is needed for training, so the version's
figure comes from k extra models, each trained from BASE_MODEL on all folds but one and
scored on that one. It describes the recipe on this data, not the served model itself,
and so it is recorded, never used to gate.
"""

from __future__ import annotations

import hashlib

from backend.errors import TrainingSkipped
from backend.label_config import Control
from backend.settings import Settings
from backend.training.examples import Examples
from backend.training.fit import train_control
from backend.training.holdout import subset


def fold_order(task_ids: list[int]) -> list[int]:
    """Example indexes in a fixed pseudo-random order, so folds do not follow import order."""
    return sorted(
        range(len(task_ids)), key=lambda i: hashlib.sha256(f"fold:{task_ids[i]}".encode()).digest()
    )


def cross_validate(
    base_model: str, control: Control, examples: Examples, settings: Settings
) -> dict:
    from model.evaluation import evaluation_record

    folds = settings.cross_validation_folds
    if folds < 2 or len(examples) < 2 * folds:
        return {"skipped": f"cross-validation needs {max(folds, 2) * 2} annotated tasks"}
    order = fold_order(examples.task_ids)
    values, metric = [], ""
    for fold in range(folds):
        scored = set(order[fold::folds])
        train = subset(examples, [i for i in order if i not in scored])
        test = subset(examples, sorted(scored))
        try:
            model, _ = train_control(base_model, control, train, settings, None)
        except TrainingSkipped:
            continue  # a fold without two labels to learn from
        record = evaluation_record(model.evaluate(test.texts, test.targets))
        values.append(record["value"])
        metric = record["metric"]
    if not values:
        return {"skipped": "no fold had the labels it needs to train"}
    return {
        "method": f"{folds}-fold cross-validation",
        "metric": metric,
        "value": round(sum(values) / len(values), 4),
        "folds": values,
    }
