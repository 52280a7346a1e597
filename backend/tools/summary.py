"""What a replay says of the gate, per ordering, seed and control: how often the newest
version served, how far the served version fell below the best one trained so far, and
how many poisoned rounds were turned away."""

from __future__ import annotations

from collections import defaultdict

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
