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


STAMP = "2026-11-22T10:45:30.123456Z"


def labels_region(index: int, start: int, end: int, text: str, origin: str = "manual") -> dict:
    """One `<Labels>` region of a result, with the fields Label Studio stores on it."""
    return {
        "id": f"r{index:08x}",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": ["ORG"]},
        "origin": origin,
        "to_name": "text",
        "from_name": "label",
    }


def annotation_record(task_id: int, result: list[dict]) -> dict:
    """An annotation as /predict and the export carry it (AnnotationSerializer's fields)."""
    return {
        "id": next(_ids),
        "result": result,
        "created_username": " annotator@example.com, 2",
        "created_ago": "3 hours, 12 minutes",
        "completed_by": 2,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": STAMP,
        "updated_at": STAMP,
        "draft_created_at": STAMP,
        "lead_time": 41.327,
        "import_id": None,
        "last_action": None,
        "bulk_created": False,
        "task": task_id,
        "project": 1,
        "updated_by": 2,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
        "state": "COMPLETED",
    }


def prediction_record(task_id: int, result: list[dict]) -> dict:
    return {
        "id": next(_ids),
        "result": result,
        "model_version": "v12-20261122T104530",
        "created_ago": "2 days",
        "score": 0.8731,
        "cluster": None,
        "neighbors": None,
        "mislabeling": 0.0,
        "created_at": STAMP,
        "updated_at": STAMP,
        "model": None,
        "model_run": None,
        "task": task_id,
        "project": 1,
    }


def full_span_task(text: str, regions: int, annotations: int = 2, predictions: int = 1) -> dict:
    """A task of a span project as Label Studio 1.23 sends it to /predict: every task field
    (TaskSimpleSerializer), its annotations and predictions inline, `regions` regions each."""
    task_id = next(_ids)
    step = max(1, len(text) // max(1, regions))
    ends = [(i * step, min(len(text), i * step + 12)) for i in range(regions)]
    result = [labels_region(i, start, end, text) for i, (start, end) in enumerate(ends)]
    return {
        "id": task_id,
        "annotations": [annotation_record(task_id, result) for _ in range(annotations)],
        "predictions": [prediction_record(task_id, result) for _ in range(predictions)],
        "data": {"text": text},
        "meta": {},
        "created_at": STAMP,
        "updated_at": STAMP,
        "is_labeled": annotations > 0,
        "overlap": 1,
        "inner_id": task_id,
        "total_annotations": annotations,
        "cancelled_annotations": 0,
        "total_predictions": predictions,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 1,
        "updated_by": 2,
        "file_upload": 3,
        "comment_authors": [],
    }
