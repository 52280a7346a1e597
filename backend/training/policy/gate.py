"""Whether a challenger serves: the rule, applied to the comparison, in one sentence."""

from __future__ import annotations

from dataclasses import asdict, replace

from backend.training.policy.comparison import Comparison, counted
from backend.version_record import Decision

HOW_TO_GO_ON = (
    "To go on: annotate more tasks (the held-out set grows with them), or serve it anyway "
    "with one call, POST /versions/<this version>/activate?project=<project>."
)


def tasks_phrase(count: int) -> str:
    return counted(count, "task")


def evidence_phrase(comparison: Comparison) -> str:
    d = comparison.difference
    assert d is not None
    parts = [f"{comparison.held_out} held out"]
    if comparison.cross_validated:
        parts.append(f"{comparison.cross_validated} new since it, scored out of fold")
    if comparison.no_out_of_fold:
        parts.append(comparison.no_out_of_fold)
    return (
        f"{d.metric} {d.challenger:.3f} against {d.champion:.3f} for the current version on "
        f"{tasks_phrase(d.tasks)} ({', '.join(parts)}): difference {d.difference:+.3f}, "
        f"{d.confidence:.0%} bounds {d.lower:+.3f} to {d.upper:+.3f}; "
        f"{d.disagreements} answered differently, {d.challenger_only} right only by the new "
        f"model and {d.champion_only} only by the current one "
        f"(McNemar p={d.champion_better_p:.3f} that the current one is better)"
    )


def left_out_phrase(comparison: Comparison) -> str:
    notes = [f"{tasks_phrase(n)} {why}" for why, n in comparison.left_out.items() if n]
    if comparison.relabelled:
        notes.append(
            f"the current version's score on its own held-out tasks fell from "
            f"{comparison.champion_then:.3f} to {comparison.champion_now:.3f} with today's "
            "labels: a sign of relabelling, not of a better challenger"
        )
    return f" Left out: {'; '.join(notes)}." if notes else ""


def decide(
    comparison: Comparison | None, tolerance: float, confidence: float, no_comparison: str | None
) -> Decision:
    """Whether the challenger serves, with the evidence in one sentence.

    A challenger on a superset of the champion's annotations (more labels, none changed or
    removed, or so few changed that they are corrections; started from the champion or from
    BASE_MODEL) serves unless the evidence says the champion is better: McNemar's test at
    `confidence` on the tasks only one of them got right, with a metric difference beyond
    `tolerance`. Any other challenger must show it is at least as good: a lower bound of the
    paired difference at `confidence` within `tolerance` (the cautious bound, which a few
    tasks cannot meet just by agreeing). And no challenger on moved labels serves while the
    champion's own yardstick moved under it (its held-out score collapsing with today's
    labels). Inconclusive keeps the champion, and says how to go on.
    """
    if comparison is None:
        return Decision(True, f"accepted without comparison: {no_comparison}")
    rule = "superset" if comparison.not_superset is None else "at-least-as-good"
    extra = {"rule": rule, "evidence": evidence_record(comparison)}
    d = comparison.difference
    figures = (
        Decision(True, "", d.metric, d.challenger, d.champion, d.tasks, extra)
        if d is not None
        else Decision(True, "", extra=extra)
    )
    if comparison.relabelled and comparison.labels_moved:
        return replace(figures, accepted=False, reason=relabelling(comparison))
    if comparison.not_superset is None:
        return benefit_of_doubt(comparison, figures, tolerance, confidence)
    return burden_of_proof(comparison, figures, tolerance)


def more_data(comparison: Comparison) -> str:
    if comparison.corrections:
        return (
            f"it learnt from every annotation the current version had but corrections "
            f"({comparison.corrections})"
        )
    return "it learnt from every annotation the current version had"


def benefit_of_doubt(
    comparison: Comparison, figures: Decision, tolerance: float, confidence: float
) -> Decision:
    d, left = comparison.difference, left_out_phrase(comparison)
    if d is None:
        reason = f"accepted: {more_data(comparison)}, and no task is left to compare them on"
        return replace(figures, reason=reason + left)
    evidence = evidence_phrase(comparison)
    if d.champion_better_p < 1 - confidence and d.difference < -tolerance:
        reason = f"rejected: the current version is better. {evidence}.{left}"
        return replace(figures, accepted=False, reason=reason)
    verdict = (
        "it is better" if d.lower > 0 else "the evidence does not say the current version is better"
    )
    return replace(
        figures, reason=f"accepted: {more_data(comparison)}, and {verdict}. {evidence}.{left}"
    )


def burden_of_proof(comparison: Comparison, figures: Decision, tolerance: float) -> Decision:
    d, left, moved = comparison.difference, left_out_phrase(comparison), comparison.not_superset
    if d is None:
        reason = (
            f"rejected: {moved}, so it must show it is at least as good, and no task is left "
            f"to compare them on.{left} {HOW_TO_GO_ON}"
        )
        return replace(figures, accepted=False, reason=reason)
    evidence = evidence_phrase(comparison)
    if d.cautious_lower >= -tolerance:
        reason = (
            f"accepted: {moved}, and it is shown at least as good (lower bound "
            f"{d.cautious_lower:+.3f}, within the tolerance of {tolerance:.3f}). {evidence}.{left}"
        )
        return replace(figures, reason=reason)
    verdict = "worse" if d.upper < -tolerance else "inconclusive"
    reason = (
        f"rejected ({verdict}): {moved}, so it must show it is at least as good, and its lower "
        f"bound {d.cautious_lower:+.3f} (on {tasks_phrase(d.tasks)}) is below "
        f"-{tolerance:.3f}. {evidence}.{left} {HOW_TO_GO_ON}"
    )
    return replace(figures, accepted=False, reason=reason)


def relabelling(comparison: Comparison) -> str:
    """Its lead, if any, may come from the labels that moved rather than from it."""
    evidence = f" {evidence_phrase(comparison)}." if comparison.difference else ""
    return (
        f"rejected (relabelling): {comparison.labels_moved}, and the current version's own "
        f"held-out score fell from {comparison.champion_then:.3f} to "
        f"{comparison.champion_now:.3f} with today's labels "
        f"({tasks_phrase(len(comparison.changed))} relabelled): labels moved under both "
        f"models, so no comparison on them can tell which is better.{evidence} To go on: "
        "check the relabelled tasks (listed in this version's record), or serve it anyway "
        "with one call, POST /versions/<this version>/activate?project=<project>."
    )


def evidence_record(comparison: Comparison) -> dict:
    d = comparison.difference
    return {
        **(asdict(d) if d is not None else {"tasks": 0}),
        "held_out_tasks": comparison.held_out,
        "cross_validated_tasks": comparison.cross_validated,
        "no_out_of_fold": comparison.no_out_of_fold,
        "left_out": comparison.left_out,
        "changed_held_out_tasks": list(comparison.changed),
        "not_superset": comparison.not_superset,
        "corrections": comparison.corrections,
        "champion_on_its_held_out": {
            "recorded": comparison.champion_then,
            "with_labels_now": comparison.champion_now,
        },
        "relabelling_suspected": comparison.relabelled,
    }


def version_decision(decisions: dict[str, Decision]) -> Decision:
    """A version serves only if every control's model passed."""
    rejected = {name: d for name, d in decisions.items() if not d.accepted}
    if rejected:
        reason = "; ".join(f"{name}: {d.reason}" for name, d in rejected.items())
        return Decision(False, f"rejected, the current version keeps serving. {reason}")
    reason = "; ".join(f"{name}: {d.reason}" for name, d in decisions.items())
    return Decision(True, reason)
