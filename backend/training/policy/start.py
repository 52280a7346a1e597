"""Where a run starts: from the champion's weights (warm) or from BASE_MODEL (full)."""

from __future__ import annotations

from collections.abc import Sequence

from backend.label_config import Control
from backend.version_record import FULL, WARM, ControlRecord, StartPlan, VersionRecord

# warm-started challengers rejected in a row before the next run retrains in full: one
# rejection is more often bad annotations than a bad start
WARM_LOSSES = 2
# A warm start replays every annotation for TRAIN_WARM_EPOCHS passes at a lower learning
# rate: enough for the annotations of a few runs since the champion, too little once they
# more than doubled. On SST-2, from 100 labels to 500, warm left 0.781 dev accuracy (mean
# of three seeds; seed 0 no better than at 100) where a full start reached 0.818.
GROWTH = 2.0


def label_set_change(previous: ControlRecord | None, control: Control) -> str | None:
    """Why the champion's model of this control cannot be compared or continued, if so."""
    if previous is None:
        return f"the current version has no model for {control.name!r}"
    if previous.kind != control.kind:
        return f"{control.name!r} changed from <{previous.kind}> to <{control.kind}>"
    before = (list(previous.labels), previous.multi_label)
    after = (list(control.labels), control.multi_label)
    if before != after:
        return f"the label set of {control.name!r} changed from {before[0]} to {after[0]}"
    return None


def full_retrain_reason(requested: bool, newest: Sequence[tuple[str, VersionRecord]]) -> str | None:
    """Why every control of this run starts from BASE_MODEL, if it must: a user asked, or
    the last WARM_LOSSES versions (`newest`: status and record, oldest first) were all
    warm-started challengers that were rejected. Warm start keeps the champion's habits,
    and a fresh start is the way out of them; one rejection is not enough, as it is more
    often bad annotations than a bad start."""
    if requested:
        return "a full retrain was requested"
    recent = list(newest)[-WARM_LOSSES:]
    if len(recent) < WARM_LOSSES:
        return None
    for status, record in recent:
        if status != "rejected" or not any(c.start.mode == WARM for c in record.controls):
            return None
    names = ", ".join(record.version for _, record in recent)
    return f"the last {WARM_LOSSES} warm-started challengers ({names}) were rejected"


def plan_start(
    champion: str | None,
    previous: ControlRecord | None,
    control: Control,
    warm_allowed: bool,
    full_reason: str | None,
    annotations: int = 0,
) -> StartPlan:
    """Warm start from the champion when its labels are the same and the control's
    `annotations` (annotated tasks, held out included) at most doubled; full otherwise."""
    if champion is None:
        return StartPlan(FULL, "no version serves yet")
    if not warm_allowed:
        return StartPlan(FULL, "WARM_START is off")
    if full_reason:
        return StartPlan(FULL, full_reason)
    changed = label_set_change(previous, control)
    if changed:
        return StartPlan(FULL, changed)
    assert previous is not None  # label_set_change said so otherwise
    had = len(previous.task_ids) + len(previous.held_out.task_ids)
    if had and annotations > GROWTH * had:
        return StartPlan(
            FULL,
            f"{annotations} annotated tasks, more than twice the {had} of the current version: "
            "a warm start's few passes would leave most of them barely learnt",
        )
    return StartPlan(WARM, f"continues from {champion}, replaying every annotation", champion)
