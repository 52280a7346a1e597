"""Request bodies shaped as Label Studio 1.23 sends them."""

from __future__ import annotations

import itertools

_ids = itertools.count(1000)


def task(text: str | None, task_id: int | None = None, field: str = "text") -> dict:
    data = {} if text is None else {field: text}
    return {"id": task_id or next(_ids), "data": data, "annotations": [], "predictions": []}


def choices(labels: list[str], from_name: str = "sentiment", to_name: str = "text") -> dict:
    return {
        "from_name": from_name,
        "to_name": to_name,
        "type": "choices",
        "value": {"choices": labels},
    }


def annotation_webhook(
    project: int,
    task_body: dict,
    labels: list[str],
    annotation_id: int | None = None,
    action: str = "ANNOTATION_CREATED",
    label_config: str | None = None,
) -> dict:
    project_body: dict = {"id": project, "title": "test"}
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
            "result": [choices(labels)],
            "was_cancelled": False,
        },
    }


def predict_body(project: int, tasks: list, label_config: str) -> dict:
    return {
        "tasks": tasks,
        "project": f"{project}.1763800000",
        "label_config": label_config,
        "params": {"login": None, "password": None, "context": None},
    }


def setup_body(project: int, label_config: str) -> dict:
    return {
        "project": f"{project}.1763800000",
        "schema": label_config,
        "hostname": "http://localhost:8080",
        "access_token": "legacy-token-not-used",
        "extra_params": {},
    }
