"""`GET /versions` (every stored version of a project, readable at a glance) and
`POST /versions/<version>/activate` (make an older version current: a rollback)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from backend.store import ModelStore, agreement_of_version, project_id
from backend.store import number as version_number
from backend.version_record import ControlRecord, VersionRecord
from backend.web.services import services

versions_blueprint = Blueprint("versions", __name__)


@versions_blueprint.get("/versions")
def versions() -> Response:
    """One project's versions with `?project=N`; Label Studio's model menu asks without a
    project, and gets every project's version names, newest first."""
    store = services().store
    if request.args.get("project") is not None:
        return jsonify(project_versions(store, project_id(request.args["project"])))
    projects = [project_versions(store, project) for project in project_ids(store)]
    names = sorted(
        (name for p in projects for name in p["versions"]), key=version_number, reverse=True
    )
    return jsonify(versions=names, projects=projects)


@versions_blueprint.post("/versions/<version>/activate")
def activate(version: str) -> Response:
    body = request.get_json(silent=True) or {}
    shared = services()
    project = project_id(request.args.get("project") or body.get("project"))
    reason = str(body.get("reason") or "activated through POST /versions/<version>/activate")
    replaced = shared.store.activate(project, version, reason)
    shared.cache.preload(project)
    return jsonify(project=project, model_version=version, replaced=replaced, reason=reason)


def project_ids(store: ModelStore) -> list[int]:
    if not store.root.is_dir():
        return []
    return sorted(int(p.name) for p in store.root.iterdir() if p.name.isdigit() and p.is_dir())


def project_versions(store: ModelStore, project: int) -> dict:
    """The project's versions, newest first, each with how it was made and how it fared."""
    statuses = store.statuses(project)
    agreement = (store.read_quality(project) or {}).get("agreement")
    details = [
        {
            **version_summary(store, project, name, status),
            "agreement": agreement_of_version(agreement, name),
        }
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
        record = VersionRecord.from_dict(store.read_raw_version(project, version))
    except (OSError, ValueError, TypeError) as error:
        return {"version": version, "status": "unreadable", "error": str(error)}
    return {
        "version": version,
        "status": status,
        "created_at": record.created_at,
        "base_model": record.base_model,
        "champion": record.champion,
        "accepted": record.decision.accepted,
        "reason": record.decision.reason,
        "training_seconds": record.seconds,
        "annotated_tasks": record.annotated_tasks,
        "controls": [control_summary(c) for c in record.controls],
        "skipped_controls": record.skipped_controls,
    }


def control_summary(control: ControlRecord) -> dict:
    held_out = control.held_out
    return {
        "control": control.control,
        "kind": control.kind,
        "labels": control.labels,
        "start": control.start.mode,
        "start_reason": control.start.reason,
        "training_annotations": control.examples,
        "held_out_tasks": len(held_out.task_ids),
        "metric": held_out.metric,
        "value": held_out.value,
        "per_label": held_out.scores.get("per_label", {}),
        "cross_validation": held_out.cross_validation,
        "decision": control.decision.to_dict() if control.decision else None,
        "seconds": control.seconds,
        # span taggers, and classifiers made before int8 or with INFERENCE_RUNTIME=torch
        "inference": control.inference.to_dict(),
    }
