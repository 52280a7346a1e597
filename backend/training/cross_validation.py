"""Out-of-fold answers of a challenger's recipe: k extra models, each trained on all folds
of the training part but one and asked about that one.

They serve twice. Below HOLDOUT_MIN_ANNOTATIONS, where nothing is held out, their score is
the version's quality estimate (of the recipe on this data, not of the served model). And
where a challenger on changed labels must show it is at least as good and the held-out
tasks the champion never saw are too few to decide on, the tasks annotated since the
champion, which it never saw either, are compared too: the champion's answers against these
out-of-fold ones, in pairs (backend.training.policy.comparison says when).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from backend.errors import TrainingSkipped
from backend.label_config import Control
from backend.settings import Settings
from backend.training.answers import Answer, answers, scores_of
from backend.training.examples import Examples
from backend.training.fit import train_control
from backend.training.holdout import subset


@dataclass
class OutOfFold:
    answers: dict[int, Answer] = field(default_factory=dict)  # training position -> answer
    record: dict = field(default_factory=dict)  # what the version records of it


def fold_order(task_ids: list[int]) -> list[int]:
    """Example indexes in a fixed pseudo-random order, so folds do not follow import order."""
    return sorted(
        range(len(task_ids)), key=lambda i: hashlib.sha256(f"fold:{task_ids[i]}".encode()).digest()
    )


def cross_validate(
    base_model: str,
    control: Control,
    examples: Examples,
    settings: Settings,
    start_from: Path | None = None,
) -> OutOfFold:
    """Each training position's answer from the fold model that did not train on it;
    fold models start where the challenger started (`start_from`: the champion's folder)."""
    folds = settings.cross_validation_folds
    if folds < 2 or len(examples) < 2 * folds:
        return OutOfFold(record={"skipped": f"cross-validation needs {max(folds, 2) * 2} tasks"})
    order = fold_order(examples.task_ids)
    found, values, metric = OutOfFold(), [], ""
    for fold in range(folds):
        scored = sorted(order[fold::folds])
        train = subset(examples, [i for i in order if i not in set(scored)])
        test = subset(examples, scored)
        try:
            model, _ = train_control(base_model, control, train, settings, None, start_from)
        except TrainingSkipped:
            continue  # a fold without two labels to learn from
        given = answers(model, control, test.texts)
        found.answers.update(zip(scored, given, strict=True))
        record = scores_of(control, given, test)
        values.append(record["value"])
        metric = record["metric"]
    if not values:
        return OutOfFold(record={"skipped": "no fold had the labels it needs to train"})
    found.record = {
        "method": f"{folds}-fold cross-validation",
        "metric": metric,
        "value": round(sum(values) / len(values), 4),
        "folds": values,
    }
    return found
