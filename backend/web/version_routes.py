"""What `GET /versions` shows: every stored version of a project, readable at a glance."""

from __future__ import annotations

import json

from backend.store import ModelStore


def project_ids(store: ModelStore) -> list[int]:
    if not store.root.is_dir():
        return []
    return sorted(int(p.name) for p in store.root.iterdir() if p.name.isdigit() and p.is_dir())


def project_versions(store: ModelStore, project: int) -> dict:
    """The project's versions, newest first, each with how it was made and how it fared."""
    statuses = store.statuses(project)
    details = [
        version_summary(store, project, name, status)
        for name, status in reversed(list(statuses.items()))
    ]
    return {
        "project": project,
        "current": store.current_version(project),
        "versions": [d["version"] for d in details],
        "details": details,
        "history": store.history(project),
    }


def version_summary(store: ModelStore, project: int, version: str, status: str) -> dict:
    try:
        record = store.read_version(project, version)
    except (OSError, json.JSONDecodeError) as error:
        return {"version": version, "status": "unreadable", "error": str(error)}
    decision = record.get("decision") or {"accepted": True, "reason": "made before gating"}
    return {
        "version": version,
        "status": status,
        "created_at": record.get("created_at"),
        "base_model": record.get("base_model"),
        "champion": record.get("champion"),
        "accepted": decision.get("accepted"),
        "reason": decision.get("reason"),
        "training_seconds": record.get("seconds"),
        "annotated_tasks": record.get("annotated_tasks"),
        "controls": [control_summary(c) for c in record.get("controls", [])],
        "skipped_controls": record.get("skipped_controls", []),
    }


def control_summary(control: dict) -> dict:
    held_out = control.get("held_out", {})
    start = control.get("start", {"mode": "full", "reason": "made before warm start"})
    return {
        "control": control["control"],
        "kind": control.get("kind"),
        "labels": control.get("labels"),
        "start": start.get("mode"),
        "start_reason": start.get("reason"),
        "training_annotations": control.get("examples"),
        "held_out_tasks": len(held_out.get("task_ids", [])),
        "metric": held_out.get("metric"),
        "value": held_out.get("value"),
        "per_label": held_out.get("per_label", {}),
        "cross_validation": held_out.get("cross_validation"),
        "decision": control.get("decision"),
        "seconds": control.get("seconds"),
        # span taggers, and classifiers made before int8 or with INFERENCE_RUNTIME=torch
        "inference": control.get("inference", {"runtime": "torch"}),
    }
