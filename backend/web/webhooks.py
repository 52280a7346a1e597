"""Label Studio's project events: enqueue training, and keep annotations where we must."""

from __future__ import annotations

from backend.errors import BadRequest
from backend.store import project_id
from backend.training.triggers import verdict
from backend.web.services import Services

ANNOTATION_SAVED = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED"}
ANNOTATIONS_DELETED = "ANNOTATIONS_DELETED"
START_TRAINING = "START_TRAINING"
TASKS_CREATED = "TASKS_CREATED"  # pushed: the new tasks need the served version's predictions
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
    if action == TASKS_CREATED and services.settings.pushes:
        return tasks_created(body, services)
    if action not in TRAINING_ACTIONS:
        return {"status": "ignored", "action": action}
    project = project_of(body)
    stored = False
    # In API mode the job pulls annotations from Label Studio, and a webhook without
    # credentials is only a trigger: its payload never becomes training data.
    if services.settings.training_source == "webhooks" and authenticated:
        stored = record_payload(body, action, project, services)
    answer = {
        "action": action,
        "project": project,
        "training_source": services.settings.training_source,
        "payload_stored": stored,
    }
    if action == START_TRAINING:
        if body.get("full_retrain") is True:
            services.changes.request_full(project)
        return {**answer, **enqueue(project, "start_training: always trains", services)}
    settings = services.settings
    judged = verdict(
        services.changes.add(project, changed_annotations(body, action)),
        annotated_tasks(body, project, services, stored),
        services.store.current_version(project) is not None,
        settings.train_min_annotations,
        settings.train_every_changes,
    )
    if not judged.train:
        services.metrics.add("lsbert_training_requests_total", outcome="waiting")
        return {**answer, "status": "waiting", "reason": judged.reason}
    return {**answer, **enqueue(project, f"{action.lower()}: {judged.reason}", services)}


def tasks_created(body: dict, services: Services) -> dict:
    project = project_of(body)
    job_id = services.request_push(project, "tasks imported")
    if job_id is None:
        return {"action": TASKS_CREATED, "project": project, "status": "ignored"}
    return {"action": TASKS_CREATED, "project": project, "status": "push", "push_job_id": job_id}


def enqueue(project: int, reason: str, services: Services) -> dict:
    request = services.queue.request(project, reason=reason)
    outcome = "coalesced" if request.coalesced else "queued"
    services.metrics.add("lsbert_training_requests_total", outcome=outcome)
    return {"status": outcome, "reason": reason, "job_id": request.job_id}


def changed_annotations(body: dict, action: str) -> int:
    if action == ANNOTATIONS_DELETED:
        return max(1, len(body.get("annotations") or []))
    return 1


def annotated_tasks(body: dict, project: int, services: Services, stored: bool) -> int | None:
    """The project's annotated tasks: Label Studio sends the count with every event; in
    webhook mode the stored payloads tell; otherwise unknown."""
    count = (
        body["project"].get("num_tasks_with_annotations")
        if isinstance(body.get("project"), dict)
        else None
    )
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    return services.webhook_annotations.count(project) if stored else None


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
