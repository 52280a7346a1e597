"""Request bodies shaped as Label Studio 1.23 sends them to a backend: what `lsbert bench`
sends, and what the tests send."""

from __future__ import annotations

import itertools

_ids = itertools.count(1000)
LABEL_STUDIO_PROJECT = "{project}.1763800000"  # /setup and /predict send "<id>.<created-at>"


def task(text: str | None, task_id: int | None = None, field: str = "text") -> dict:
    """A task as /predict and webhooks carry it; without text, a task with empty data."""
    data = {} if text is None else {field: text}
    return {"id": task_id or next(_ids), "data": data, "annotations": [], "predictions": []}


def choices(labels: list[str], from_name: str = "sentiment", to_name: str = "text") -> dict:
    return {
        "from_name": from_name,
        "to_name": to_name,
        "type": "choices",
        "value": {"choices": labels},
    }


def annotation_event(
    project: int,
    task_body: dict,
    result: list[dict],
    annotation_id: int | None = None,
    action: str = "ANNOTATION_CREATED",
    label_config: str | None = None,
) -> dict:
    """An annotation webhook; Label Studio sends the project's config with it."""
    project_body: dict = {"id": project, "title": "lsbert"}
    if label_config:
        project_body["label_config"] = label_config
    return {
        "action": action,
        "project": project_body,
        "task": task_body,
        "annotation": {
            "id": annotation_id or next(_ids),
            "task": task_body["id"],
            "project": project,
            "result": result,
            "was_cancelled": False,
        },
    }


def annotation_webhook(
    project: int,
    task_body: dict,
    labels: list[str],
    annotation_id: int | None = None,
    action: str = "ANNOTATION_CREATED",
    label_config: str | None = None,
) -> dict:
    """An annotation webhook whose result is one `<Choices name="sentiment">` choice."""
    return annotation_event(
        project, task_body, [choices(labels)], annotation_id, action, label_config
    )


def predict_body(project: int, tasks: list, label_config: str) -> dict:
    return {
        "tasks": tasks,
        "project": LABEL_STUDIO_PROJECT.format(project=project),
        "label_config": label_config,
        "params": {"login": None, "password": None, "context": None},
    }


def setup_body(project: int, label_config: str) -> dict:
    return {
        "project": LABEL_STUDIO_PROJECT.format(project=project),
        "schema": label_config,
        "hostname": "http://localhost:8080",
        "access_token": "legacy-token-not-used",
        "extra_params": {},
    }


def start_training(project: int, full: bool = False) -> dict:
    """START_TRAINING as the Start training button sends it (no annotations); `full` asks
    for a retrain from BASE_MODEL."""
    body: dict = {"action": "START_TRAINING", "project": {"id": project}}
    return {**body, "full_retrain": True} if full else body
