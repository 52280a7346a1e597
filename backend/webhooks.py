"""Label Studio's project events: enqueue training, and keep annotations where we must."""

from __future__ import annotations

from backend.errors import BadRequest
from backend.services import Services
from backend.store import project_id

ANNOTATION_SAVED = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED"}
ANNOTATIONS_DELETED = "ANNOTATIONS_DELETED"
START_TRAINING = "START_TRAINING"
TRAINING_ACTIONS = ANNOTATION_SAVED | {ANNOTATIONS_DELETED, START_TRAINING}


def project_of(body: dict) -> int:
    project = body.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None:
        for part in ("annotation", "task"):
            if isinstance(body.get(part), dict) and body[part].get("project") is not None:
                project = body[part]["project"]
                break
    return project_id(project)


def handle_webhook(body: dict, services: Services, authenticated: bool) -> dict:
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise BadRequest(
            "the webhook has no action", 'send {"action": "START_TRAINING", "project": {"id": 1}}'
        )
    services.metrics.add("lsbert_webhooks_total", action=action)
    if action not in TRAINING_ACTIONS:
        return {"status": "ignored", "action": action}
    project = project_of(body)
    stored = False
    # In API mode the job pulls annotations from Label Studio, and a webhook without
    # credentials is only a trigger: its payload never becomes training data.
    if services.settings.training_source == "webhooks" and authenticated:
        stored = record_payload(body, action, project, services)
    request = services.queue.request(project, reason=action.lower())
    outcome = "coalesced" if request.coalesced else "queued"
    services.metrics.add("lsbert_training_requests_total", outcome=outcome)
    return {
        "status": outcome,
        "action": action,
        "project": project,
        "job_id": request.job_id,
        "training_source": services.settings.training_source,
        "payload_stored": stored,
    }


def record_payload(body: dict, action: str, project: int, services: Services) -> bool:
    project_body = body.get("project")
    label_config = project_body.get("label_config") if isinstance(project_body, dict) else None
    if isinstance(label_config, str) and label_config.strip():
        services.configs.save(project, label_config)
    if action in ANNOTATION_SAVED:
        annotation, task = body.get("annotation"), body.get("task")
        if (
            not isinstance(annotation, dict)
            or not isinstance(task, dict)
            or not isinstance(task.get("id"), int)
        ):
            raise BadRequest(
                f"{action} needs the annotation and task objects",
                "send the webhook as Label Studio does, with 'annotation' and 'task'",
            )
        services.webhook_annotations.save(project, task, annotation)
        return True
    if action == ANNOTATIONS_DELETED:
        ids = {a.get("id") for a in body.get("annotations") or [] if isinstance(a, dict)}
        services.webhook_annotations.delete(project, {i for i in ids if i is not None})
        return True
    return False
