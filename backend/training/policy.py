"""Champion and challenger: which start a run takes, and whether its result may serve.

A run's model (the challenger) becomes current only if, on the project's held-out tasks,
it scores no worse than the current version (the champion) beyond a tolerance. Both are
scored by the same metric on the same tasks, with the labels those tasks have now.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from backend.label_config import Control

WARM, FULL = "warm", "full"
# warm-started challengers rejected in a row before the next run retrains in full: one
# rejection is more often bad annotations than a bad start
WARM_LOSSES = 2


@dataclass(frozen=True)
class StartPlan:
    mode: str  # WARM: from the champion's weights; FULL: from BASE_MODEL
    reason: str
    from_version: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str
    metric: str | None = None
    challenger: float | None = None
    champion: float | None = None
    compared_tasks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def label_set_change(previous: dict | None, control: Control) -> str | None:
    """Why the champion's model of this control cannot be compared or continued, if so."""
    if previous is None:
        return f"the current version has no model for {control.name!r}"
    if previous.get("kind", "choices") != control.kind:
        return f"{control.name!r} changed from <{previous.get('kind')}> to <{control.kind}>"
    before = (list(previous["labels"]), bool(previous.get("multi_label")))
    after = (list(control.labels), control.multi_label)
    if before != after:
        return f"the label set of {control.name!r} changed from {before[0]} to {after[0]}"
    return None


def plan_start(
    champion: str | None,
    previous: dict | None,
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
        return Decision(**{**asdict(figures), "accepted": False, "reason": reason})
    reason = f"{metric} {new:.3f} {on}, against {old:.3f} for the current version"
    return Decision(**{**asdict(figures), "reason": reason})


def version_decision(decisions: dict[str, Decision]) -> Decision:
    """A version serves only if every control's model passed."""
    rejected = {name: d for name, d in decisions.items() if not d.accepted}
    if rejected:
        reason = "; ".join(f"{name}: {d.reason}" for name, d in rejected.items())
        return Decision(False, f"rejected, the current version keeps serving. {reason}")
    reason = "; ".join(f"{name}: {d.reason}" for name, d in decisions.items())
    return Decision(True, reason)
