"""What a replay says of the gate, per ordering, seed and control: how often the newest
version served, how far the served version fell below the best one trained so far, and
how many poisoned rounds were turned away. And its learning curves, averaged over seeds,
with how many labels an ordering needs to reach what another reached: "uncertainty order
reaches random order's 500-label accuracy with N labels"."""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean

AFTER = 100  # labels after which "the newest serves" is counted, as a project settles


def gate_summary(rows: list[dict]) -> list[dict]:
    replays: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if not row.get("skipped"):
            replays[row["ordering"], row["seed"], row["control"]].append(row)
    return [replay_summary(key, found) for key, found in replays.items()]


def figure(scores: dict | None) -> float | None:
    """Accuracy where there is one (choices), else the metric (entity F1 for spans)."""
    scores = scores or {}
    return scores.get("accuracy", scores.get("value"))


def replay_summary(key: tuple, rows: list[dict]) -> dict:
    ordering, seed, control = key
    best, worst_gap = None, 0.0
    for row in rows:
        new, served = figure(row.get("challenger")), figure(row.get("evaluation"))
        if new is not None:
            best = new if best is None else max(best, new)
        if best is not None and served is not None:
            worst_gap = max(worst_gap, round(best - served, 4))
    honest = [r for r in rows if not r.get("poisoned")]
    late = [r for r in honest if r["labels"] > AFTER]
    poisoned = [r for r in rows if r.get("poisoned")]
    return {
        "ordering": ordering,
        "seed": seed,
        "control": control,
        "rounds": len(rows),
        # the best version trained so far (served or not) minus the served one
        "largest_drop_below_best": worst_gap,
        f"newest_served_after_{AFTER}": share(sum(r["accepted"] for r in late), len(late)),
        "honest_rejected": sum(not r["accepted"] for r in honest),
        "poisoned_rounds": len(poisoned),
        "poisoned_rejected": sum(not r["accepted"] for r in poisoned),
    }


def share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def format_gate(result: dict) -> str:
    """One line per replay: what the gate served."""
    lines = []
    for replay in result["gate"]:
        newest = replay["newest_served_after_100"]
        lines.append(
            f"{replay['ordering']} seed {replay['seed']} {replay['control']}: served at most "
            f"{replay['largest_drop_below_best']:.3f} below the best version so far; the newest "
            f"served in {'-' if newest is None else f'{newest:.0%}'} of the honest rounds after "
            f"100 labels; {replay['poisoned_rejected']} of {replay['poisoned_rounds']} poisoned "
            "rounds rejected"
        )
    return "\n".join(lines)


REFERENCE = "random"


def mean_curves(rows: list[dict]) -> dict[str, dict[str, list[list[float]]]]:
    """Control -> ordering -> [labels, mean served figure over seeds, lowest, highest]."""
    values: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for row in rows:
        served = figure(row.get("evaluation"))
        if served is not None:
            values[row["control"], row["ordering"], row["labels"]].append(served)
    curves: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for (control, ordering, labels), found in sorted(values.items()):
        point = [labels, round(fmean(found), 4), min(found), max(found)]
        curves[control][ordering].append(point)
    return {control: dict(by_order) for control, by_order in curves.items()}


def labels_to_reach(curve: list[list[float]], target: float) -> float | None:
    """The labels at which a mean curve first reaches `target`, between two measured sizes
    by a straight line; None if it never does."""
    previous = None
    for labels, value, *_ in curve:
        if value >= target:
            if previous is None or previous[1] >= target:
                return labels
            (x0, y0), (x1, y1) = previous[:2], (labels, value)
            return round(x0 + (target - y0) * (x1 - x0) / (y1 - y0), 1)
        previous = (labels, value)
    return None


def reach_summary(curves: dict[str, dict[str, list[list[float]]]]) -> list[dict]:
    """For each control and ordering but the reference: the labels it needs to reach the
    reference ordering's figure at the reference's largest size."""
    found = []
    for control, by_order in curves.items():
        reference = by_order.get(REFERENCE)
        if not reference:
            continue
        at, target = reference[-1][0], reference[-1][1]
        for ordering, curve in by_order.items():
            if ordering == REFERENCE:
                continue
            needed = labels_to_reach(curve, target)
            saved = None if needed is None else round(1 - needed / at, 4)
            found.append(
                {"control": control, "ordering": ordering, "reference_labels": at,
                 "reference_value": target, "labels_needed": needed, "fewer": saved}
            )  # fmt: skip
    return found


def format_curves(result: dict) -> str:
    lines = []
    for control, by_order in result.get("curves", {}).items():
        for ordering, curve in by_order.items():
            points = ", ".join(f"{int(labels)}: {value:.3f}" for labels, value, *_ in curve)
            lines.append(f"{control} {ordering} (mean of seeds): {points}")
    for reach in result.get("reach", []):
        needed = reach["labels_needed"]
        said = "never" if needed is None else f"with {needed:g} labels ({reach['fewer']:.0%} fewer)"
        lines.append(
            f"{reach['control']}: {reach['ordering']} order reaches {REFERENCE} order's "
            f"{reach['reference_labels']:g}-label figure ({reach['reference_value']:.3f}) {said}"
        )
    return "\n".join(lines)


def quality_lines(rows: list[dict]) -> str:
    """One line per round with wrong labels: how high they ranked in the suspect queue."""
    lines = []
    for row in rows:
        quality = row.get("quality") or {}
        if not quality.get("wrong"):
            continue
        lines.append(
            f"{row['ordering']} seed {row['seed']} round {row['round']} {row['control']}: "
            f"{quality['wrong']} wrong labels of {quality['scored']} scored "
            f"({quality['encoder']} encoder); top {quality['wrong']} of the queue hold "
            f"{quality['found_in_top_n']:.0%} of them, top {2 * quality['wrong']} "
            f"{quality['found_in_top_2n']:.0%}; {quality['suspects']} marked suspect, "
            f"{quality['wrong_among_suspects']} of them wrong; queue in {quality['seconds']:.1f} s"
        )
    return "\n".join(lines)
