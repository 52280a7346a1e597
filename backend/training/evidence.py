"""The two models' answers (backend.training.answers) on the tasks the policy chose,
turned into the paired evidence the gate weighs (backend.training.policy.Comparison)."""

from __future__ import annotations

from collections.abc import Sequence

from backend.label_config import Control
from backend.settings import Settings
from backend.training.answers import Answer, columns, counts, gold, metric_name
from backend.training.cross_validation import OutOfFold
from backend.training.examples import Examples
from backend.training.policy import Comparison, ComparisonPlan
from model.paired import metric, paired_difference


def compared(
    plan: ComparisonPlan,
    control: Control,
    held_out: Examples | None,
    train: Examples,
    challenger: Sequence[Answer],
    champion: dict[int, Answer],
    out_of_fold: OutOfFold | None,
    settings: Settings,
) -> Comparison:
    """The paired comparison: the held-out positions the plan chose (challenger's own
    answers) and, where out-of-fold answers exist, the tasks new since the champion."""
    name = metric_name(control)
    held_ids = held_out.task_ids if held_out is not None else []
    held_gold = gold(control, held_out) if held_out is not None else []
    new = [i for i in plan.new if out_of_fold is not None and i in out_of_fold.answers]
    train_gold = gold(control, train)
    wanted = [held_gold[i] for i in plan.held_out] + [train_gold[i] for i in new]
    mine = [challenger[i] for i in plan.held_out]
    mine += [out_of_fold.answers[i] for i in new] if out_of_fold else []
    theirs = [champion[held_ids[i]] for i in plan.held_out]
    theirs += [champion[train.task_ids[i]] for i in new]
    own = [held_gold[i] for i in plan.own_held_out]
    said = [champion[held_ids[i]] for i in plan.own_held_out]
    labels = columns(control, mine, theirs, wanted, own, said)
    difference = None
    if wanted:
        difference = paired_difference(
            counts(control, mine, wanted, labels),
            counts(control, theirs, wanted, labels),
            name,
            settings.gate_confidence,
            seed=settings.train_seed,
        )
    return Comparison(
        difference=difference,
        not_superset=plan.not_superset,
        corrections=plan.corrections,
        held_out=len(plan.held_out),
        cross_validated=len(new),
        left_out=plan.left_out,
        changed=plan.changed,
        champion_then=plan.champion_then,
        no_out_of_fold=plan.no_out_of_fold,
        champion_now=round(metric(counts(control, said, own, labels), name), 4) if own else None,
    )
