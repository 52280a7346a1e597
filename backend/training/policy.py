"""Champion and challenger, decided in one place: which start a run takes, which held-out
tasks both models are compared on, and whether the challenger may serve, with why.

Pure functions of version records, label configs and scores: no model, no Redis, no
files. The training run calls them, and `lsbert simulate` replays them through that run,
so a replay decides exactly as a project would.

A run's model (the challenger) becomes current only if, on the project's held-out tasks,
it scores no worse than the current version (the champion) beyond a tolerance. Both are
scored by the same metric on the same tasks, with the labels those tasks have now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from backend.label_config import Control
from backend.version_record import FULL, WARM, ControlRecord, Decision, StartPlan, VersionRecord

# warm-started challengers rejected in a row before the next run retrains in full: one
# rejection is more often bad annotations than a bad start
WARM_LOSSES = 2


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
) -> StartPlan:
    """Warm start from the champion when its labels are the same; full otherwise."""
    if champion is None:
        return StartPlan(FULL, "no version serves yet")
    if not warm_allowed:
        return StartPlan(FULL, "WARM_START is off")
    if full_reason:
        return StartPlan(FULL, full_reason)
    changed = label_set_change(previous, control)
    if changed:
        return StartPlan(FULL, changed)
    return StartPlan(WARM, f"continues from {champion}, replaying every annotation", champion)


def comparison_set(
    champion: str | None,
    previous: ControlRecord | None,
    control: Control,
    held_out: Sequence[int] | None,
    holdout_min: int,
) -> tuple[list[int] | None, str | None]:
    """Positions in `held_out` (the held-out task ids) that both models are scored on, or
    why there is no comparison. A champion trained below the held-out threshold saw some
    of them: those are left out."""
    if champion is None:
        return None, "the first version of the project"
    changed = label_set_change(previous, control)
    if changed:
        return None, f"{changed}; the comparison restarts"
    if held_out is None:
        return None, f"fewer than {holdout_min} annotated tasks, none held out yet"
    seen = set(previous.task_ids) if previous else set()
    unseen = [i for i, task in enumerate(held_out) if task not in seen]
    if not unseen:
        return None, "the current version trained on every held-out task"
    return unseen, None


def decide(
    challenger: dict | None,
    champion: dict | None,
    compared_tasks: int,
    tolerance: float,
    no_comparison: str | None,
) -> Decision:
    """Accept unless the challenger's held-out score is below the champion's by more than
    `tolerance`; `no_comparison` says why there is nothing to compare against, if so."""
    if no_comparison or challenger is None or champion is None:
        return Decision(True, f"accepted without comparison: {no_comparison}")
    metric, new, old = challenger["metric"], challenger["value"], champion["value"]
    figures = Decision(True, "", metric, new, old, compared_tasks)
    on = f"on {compared_tasks} held-out task{'s' if compared_tasks != 1 else ''}"
    if new + tolerance < old:
        reason = (
            f"{metric} {new:.3f} {on} is {old - new:.3f} below the current version's "
            f"{old:.3f}, more than the tolerance of {tolerance:.3f}"
        )
        return replace(figures, accepted=False, reason=reason)
    return replace(
        figures, reason=f"{metric} {new:.3f} {on}, against {old:.3f} for the current version"
    )


def version_decision(decisions: dict[str, Decision]) -> Decision:
    """A version serves only if every control's model passed."""
    rejected = {name: d for name, d in decisions.items() if not d.accepted}
    if rejected:
        reason = "; ".join(f"{name}: {d.reason}" for name, d in rejected.items())
        return Decision(False, f"rejected, the current version keeps serving. {reason}")
    reason = "; ".join(f"{name}: {d.reason}" for name, d in decisions.items())
    return Decision(True, reason)
