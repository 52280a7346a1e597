"""What the operator's pages show, read from the JSON the backend already serves: a
project's `/versions` answer (version_routes.project_versions) and its `/jobs` items
(job_routes.list_jobs). Plain dicts for the templates; nothing here writes.

Jobs carry a `kind`: training jobs have none today, so a job without one is a training
job; jobs of kind `push` (predictions sent to Label Studio) get a section of their own.
"""

from __future__ import annotations

from backend.store import number as version_number

JOB_LIMIT = 20  # jobs the project page lists, and the page's script polls for
RECENT_JOBS = 8  # ended jobs shown
WAITING = ("queued", "deferred")
ENDED = ("finished", "failed", "canceled")
PUSH = "push"
TRAINING = "training"
MADE_CURRENT = ("published", "activated")


def short_name(version: str | None) -> str:
    """v12-20261122T101500 -> v12: what a person calls it."""
    return (version or "").split("-", 1)[0]


def served_summary(listing: dict) -> dict | None:
    """The served version: its scores, and when and why it became current."""
    current = listing.get("current")
    detail = next((d for d in listing.get("details", []) if d["version"] == current), None)
    if current is None or detail is None:
        return None
    event: dict = next(
        (
            e
            for e in reversed(listing.get("history", []))
            if e.get("version") == current and e.get("event") in MADE_CURRENT
        ),
        {},
    )
    by_hand = event.get("event") == "activated"
    return {
        "version": current,
        "name": short_name(current),
        "since": event.get("at") or detail.get("created_at"),
        "how": "made current by hand" if by_hand else "published by a training run",
        "why": event.get("reason") if by_hand else detail.get("reason"),
        "replaced": event.get("replaced"),
        "scores": [control_score(c) for c in detail.get("controls", [])],
        "annotated_tasks": detail.get("annotated_tasks"),
    }


def control_score(control: dict) -> dict:
    """One control's score in words: on held-out tasks, or the cross-validation estimate."""
    value, held_out = control.get("value"), control.get("held_out_tasks") or 0
    cross = control.get("cross_validation") or {}
    if value is not None:
        text = f"{value:.3f} on {held_out} held-out task{'s' if held_out != 1 else ''}"
        kind = "held_out"
    elif cross.get("value") is not None:
        text = f"{cross['value']:.3f} estimated by cross-validation (nothing held out yet)"
        kind, value = "cross_validation", cross["value"]
    else:
        text = "no score: nothing held out yet"
        kind = "none"
    return {
        "control": control.get("control", ""),
        "metric": control.get("metric") or cross.get("metric") or "",
        "value": value,
        "kind": kind,
        "text": text,
    }


def version_rows(listing: dict) -> list[dict]:
    """Every version, newest first, as the versions table shows it."""
    current = listing.get("current")
    return [
        {
            **detail,
            "name": short_name(detail["version"]),
            "is_current": detail["version"] == current,
            "scores": [control_score(c) for c in detail.get("controls", [])],
            "trained_on": trained_on(detail),
            "action": action_label(detail["version"], current),
        }
        for detail in listing.get("details", [])
    ]


def action_label(version: str, current: str | None) -> str:
    """What its button does, said from where the project stands."""
    name = short_name(version)
    if current is None:
        return f"Serve {name}"
    if version_number(version) < version_number(current):
        return f"Roll back to {name}"
    return f"Serve {name} instead"


def trained_on(detail: dict) -> str:
    counts = {c.get("training_annotations") for c in detail.get("controls", [])}
    counts.discard(None)
    if not counts:
        return ""
    return " / ".join(str(n) for n in sorted(counts))


# what starts a job, as a person would say it (the reasons come from web.webhooks)
REASON_WORDS = {
    "start_training": "Start training (Label Studio's button, or a START_TRAINING webhook)",
    "annotation_created": "annotation created",
    "annotation_updated": "annotation updated",
    "annotations_deleted": "annotations deleted",
}
STATUS_WORDS = {
    "current": "serves now",
    "rejected": "the training run kept the version serving then",
    "rolled_back": "served until an older version was made current",
    "superseded": "a newer version replaced it",
    "unreadable": "its version.json cannot be read",
}
METRIC_WORDS = {
    "macro_f1": "macro_f1 is the F1 score averaged over the labels",
    "entity_f1": "entity_f1 is the F1 score of spans with exact boundaries and label",
}


def reason_words(reason: str) -> str:
    """`start_training: always trains` -> what a person calls it."""
    head, _, rest = (reason or "").partition(": ")
    if head == "start_training":
        return REASON_WORDS[head] + (rest.removeprefix("always trains") or "")
    if head in REASON_WORDS:
        return f"{REASON_WORDS[head]}: {rest}"
    return reason or ""


def job_kind(job: dict) -> str:
    return job.get("kind") or TRAINING


def job_groups(jobs: list[dict]) -> dict:
    """The project's jobs, newest first as /jobs lists them, by what a person asks of them:
    what runs now, what waits (next first), how the last ones ended; pushes apart."""
    training = [j for j in jobs if job_kind(j) == TRAINING]
    return {
        "running": [j for j in training if j["status"] == "running"],
        "waiting": list(reversed([j for j in training if j["status"] in WAITING])),
        "recent": [j for j in training if j["status"] in ENDED][:RECENT_JOBS],
        "pushes": [j for j in jobs if job_kind(j) == PUSH],
    }


def jobs_signature(jobs: list[dict]) -> str:
    """Which jobs exist and their statuses: the page's script compares it with what /jobs
    answers, and fetches the page again when it differs (a job started, ended, queued)."""
    return ",".join(f"{job['id']}:{job['status']}" for job in jobs)


def eta_text(seconds: float) -> str:
    """Time left in words (the page's script says it the same way: page.js etaText)."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"about {seconds} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds // 3600} h {round(seconds % 3600 / 60)} min left"


def pace_text(progress: dict, suffix: str = "", done: str = "") -> str:
    """What the progress line ends with: the time left at the pace so far, or, once the
    stage's last step is done, `done` (a run goes on scoring and saving without steps).
    The page's script says it the same way (page.js paceText)."""
    step, total, eta = (progress.get(k) for k in ("step", "total_steps", "eta_seconds"))
    if done and total and step is not None and step >= total:
        return done
    return "" if eta is None else f" · {eta_text(eta)}{suffix}"


def three_places(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def job_outcome(job: dict) -> str:
    """How an ended job ended, in one word."""
    if job["status"] == "finished":
        return job.get("outcome") or "finished"
    return job["status"]


def project_row(project: int, listing: dict | None, jobs: list[dict]) -> dict:
    """One project on the overview: what serves, how many versions, what trains."""
    listing = listing or {}
    groups = job_groups(jobs)
    last = groups["recent"][0] if groups["recent"] else None
    return {
        "project": project,
        "served": served_summary(listing) if listing else None,
        "versions": len(listing.get("versions", [])),
        "running": groups["running"],
        "waiting": len(groups["waiting"]),
        "last": last,
    }


def projects_in(listings: dict[int, dict], jobs: list[dict], connected: list[int]) -> list[int]:
    """Projects with a version in the store, a job (a first run), or a label config seen
    (connected to Label Studio, nothing trained yet)."""
    with_jobs = {job["project"] for job in jobs if isinstance(job.get("project"), int)}
    return sorted(set(listings) | with_jobs | set(connected))
