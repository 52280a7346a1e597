"""`GET /versions` (every stored version of a project, readable at a glance) and
`POST /versions/<version>/activate` (make an older version current: a rollback)."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify, request

from backend.errors import BadRequest
from backend.redaction import for_answer
from backend.store import VERSION_PATTERN, ModelStore, agreement_of_version, project_id
from backend.store import number as version_number
from backend.version_record import ControlRecord, VersionRecord
from backend.web.request_body import json_body
from backend.web.services import services

versions_blueprint = Blueprint("versions", __name__)
MAX_REASON = 1000  # characters of a reason kept in the project's history


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
    if not VERSION_PATTERN.fullmatch(version):
        raise BadRequest(
            f"{version[:40]!r} is not a version name",
            "name a version as GET /versions?project=N lists them, e.g. v3-20261122T101500",
        )
    body = json_body(optional=True)
    shared = services()
    project = project_id(request.args.get("project") or body.get("project"))
    reason = activation_reason(body.get("reason"))
    replaced = shared.store.activate(project, version, reason)
    shared.cache.preload(project)
    push_job_id = shared.request_push(project, f"{version} activated")
    return jsonify(
        project=project,
        model_version=version,
        replaced=replaced,
        reason=reason,
        push_job_id=push_job_id,
    )


def activation_reason(reason: object) -> str:
    if reason is None or reason == "":
        return "activated through POST /versions/<version>/activate"
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadRequest(
            f"'reason' must be text of at most {MAX_REASON} characters",
            'send e.g. {"reason": "v5 mislabels short reviews"}, or no body',
        )
    return reason


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
        return {"version": version, "status": "unreadable", "error": for_answer(str(error))}
    return {
        "version": version,
        "status": status,
        "created_at": record.created_at,
        "base_model": public_base_model(record.base_model),
        "champion": record.champion,
        "accepted": record.decision.accepted,
        "reason": record.decision.reason,
        "training_seconds": record.seconds,
        "annotated_tasks": record.annotated_tasks,
        "controls": [control_summary(c) for c in record.controls],
        "skipped_controls": record.skipped_controls,
    }


def public_base_model(base_model: dict | None) -> dict | None:
    """The base model without where it lies on this machine (version.json keeps that)."""
    if base_model is None:
        return None
    shown = {k: v for k, v in base_model.items() if k != "path"}
    name = shown.get("name")
    if isinstance(name, str) and os.path.isabs(name):  # BASE_MODEL names a folder
        shown["name"] = f".../{os.path.basename(name.rstrip('/'))}"
    return shown


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
