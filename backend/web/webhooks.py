"""Label Studio's project events: enqueue training, and keep annotations where we must."""

from __future__ import annotations

from backend.errors import BadRequest, Unauthorized
from backend.label_config import check_encodable
from backend.metrics import webhook_action_label
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
    services.metrics.add("lsbert_webhooks_total", action=webhook_action_label(action))
    if action == TASKS_CREATED and services.settings.pushes:
        return tasks_created(body, services)
    if action not in TRAINING_ACTIONS:
        return {"status": "ignored", "action": action[:100]}  # never megabytes echoed back
    if action == START_TRAINING and not authenticated:
        # Only annotation events come without credentials (Label Studio's webhooks carry
        # none); its train call sends them. Forced runs prune old versions: not for anyone.
        raise Unauthorized(
            "START_TRAINING needs basic auth on this backend",
            "start training from Label Studio (it sends the backend's credentials), or send "
            "BASIC_AUTH_USER and BASIC_AUTH_PASS with the request",
        )
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
        return max(1, len(deleted_annotations(body)))
    return 1


def deleted_annotations(body: dict) -> list:
    annotations = body.get("annotations")
    if annotations is None:
        return []
    if not isinstance(annotations, list):
        raise BadRequest(
            f"'annotations' of {ANNOTATIONS_DELETED} must be a list, not "
            f"{type(annotations).__name__}",
            'send the deleted annotations as Label Studio does: "annotations": [{"id": 7}]',
        )
    return annotations


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
        services.configs.save(project, check_encodable(label_config))
    if action in ANNOTATION_SAVED:
        annotation, task = saved_annotation(body, action)
        services.webhook_annotations.save(project, task, annotation)
        return True
    if action == ANNOTATIONS_DELETED:
        annotations = [a for a in deleted_annotations(body) if isinstance(a, dict)]
        ids = {a["id"] for a in annotations if is_record_id(a.get("id"))}
        services.webhook_annotations.delete(project, ids)
        return True
    return False


def saved_annotation(body: dict, action: str) -> tuple[dict, dict]:
    """The annotation and its task, refused unless a run can learn from them: one stored
    record a run cannot read would fail every later run of the project."""
    annotation, task = body.get("annotation"), body.get("task")
    shape_fix = "send the webhook as Label Studio does, with 'annotation' and 'task'"
    if not isinstance(annotation, dict) or not isinstance(task, dict):
        raise BadRequest(f"{action} needs the annotation and task objects", shape_fix)
    problems = [
        f"{name} is not a whole number"
        for name, value in (("task.id", task.get("id")), ("annotation.id", annotation.get("id")))
        if not is_record_id(value) and (name == "task.id" or value is not None)
    ]
    for name, value, kind in (
        ("task.data", task.get("data"), dict),
        ("annotation.result", annotation.get("result"), list),
    ):
        if value is not None and not isinstance(value, kind):
            problems.append(f"{name} is not a{'n object' if kind is dict else ' list'}")
    if problems:
        raise BadRequest(f"{action}: {'; '.join(problems)}", shape_fix)
    return annotation, task


def is_record_id(value: object) -> bool:
    """A Label Studio id: a positive int (a bool is no id), as Label Studio's database holds."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
