"""What the model store decides on its own: each version's status, which versions pruning
keeps, and what becomes of a run whose champion stopped being current while it trained."""

from __future__ import annotations

import re

from backend.version_record import Decision, VersionRecord

EVER_CURRENT_KEPT = 3  # the current version and the two that were current before it
RUN_EVENTS = ("published", "rejected")  # one per run
VERSION_PATTERN = re.compile(r"^v(\d+)-\d{8}T\d{6}$")
CURRENT, REJECTED, ROLLED_BACK, SUPERSEDED = "current", "rejected", "rolled_back", "superseded"


def version_statuses(history: list[dict], names: list[str], current: str | None) -> dict[str, str]:
    """current, rejected, rolled_back (replaced by activating an older version) or
    superseded (replaced by a newer one), for each of `names`, from the project's history."""
    status = {}
    for entry in history:
        version, replaced = entry["version"], entry.get("replaced")
        if entry["event"] == "rejected":
            status[version] = REJECTED
        elif replaced and entry["event"] == "activated" and number(replaced) > number(version):
            status[replaced] = ROLLED_BACK
        elif replaced:
            status.setdefault(replaced, SUPERSEDED)
    result = {name: status.get(name, SUPERSEDED) for name in names}
    if current:
        result[current] = CURRENT
    return result


def protected(history: list[dict], current: str | None, keep: int) -> set[str]:
    """What pruning never deletes: the current version and the two current before it (the
    rollback targets), and every version activated by hand in the last `keep` runs. So
    runs forced again and again (START_TRAINING) cannot delete every rollback target."""
    kept = {current} if current else set()
    deleted = {e["version"] for e in history if e["event"] == "deleted"}
    became_current = [e["version"] for e in history if e["event"] in ("published", "activated")]
    for version in reversed(became_current):
        if len(kept) >= EVER_CURRENT_KEPT:
            break
        if version not in deleted:  # deleted by an earlier release: no rollback target
            kept.add(version)
    # activated with at most `keep` runs since: after the (keep+1)-th newest run began
    runs = [i for i, e in enumerate(history) if e["event"] in RUN_EVENTS]
    since = runs[-keep - 1] if len(runs) > keep else -1
    kept |= {e["version"] for e in history[since + 1 :] if e["event"] == "activated"}
    return kept


def kept_as_challenger(project: int, record: VersionRecord, current: str | None) -> Decision:
    """The decision of a run whose champion stopped being current while it trained."""
    judged = record.decision
    verdict = "it passed the comparison" if judged.accepted else "it was rejected"
    because = (
        f"the current version changed from {record.champion or 'none'} to "
        f"{current or 'none'} while it trained (a rollback, or another run published)"
    )
    against = record.champion or "no version"
    reason = (
        f"kept as a challenger, not served: {because}. Against {against}, {verdict}: "
        f"{judged.reason.rstrip('.')}. To serve it anyway: POST /versions/{record.version}"
        f"/activate?project={project}"
    )
    extra = {**judged.extra, "kept_because": because, "judged_against_champion": judged.accepted}
    return Decision(
        False,
        reason,
        judged.metric,
        judged.challenger,
        judged.champion,
        judged.compared_tasks,
        extra,
    )


def number(version: str) -> int:
    """The running number of a version name: v12-20261122T101500 -> 12."""
    match = VERSION_PATTERN.match(version)
    return int(match.group(1)) if match else 0
