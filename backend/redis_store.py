"""Redis: the connection, every key the backend writes (RQ's own aside), and what the
backend keeps there besides the job queue: label configs, webhook annotations, the count
of annotation changes since the last run."""

from __future__ import annotations

import json

from redis import Redis

from backend.clock import utc_now

PREFIX = "lsbert"
# Per-project keys, lsbert:project:<id>:<name>
LABEL_CONFIG = "label_config"  # the last label config seen (from /setup and webhooks)
WEBHOOK_TASKS = "webhook_tasks"  # hash: task id -> the task with its annotations
WEBHOOK_LOCK = "webhook_lock"  # read-modify-write of one task's record
CHANGES = "changes_since_run"  # annotation changes since the last run started
FULL_RETRAIN = "full_retrain_requested"  # the next run starts from BASE_MODEL
LATEST_JOB = "latest_job"  # id of the project's newest training job
QUEUE_LOCK = "queue_lock"  # held while a training request is queued or joined
TRAINING_LOCK = "training_lock"  # held for a whole run: one run per project at a time
LATEST_PUSH = "latest_push"  # id of the project's newest push job
PUSH_QUEUE_LOCK = "push_queue_lock"  # held while a push request is queued or joined
PUSH_LOCK = "push_lock"  # held for a whole push: one push per project at a time
SAMPLING_SET = "sampling_set"  # the backend set the project's uncertainty sampling once
METRICS = "metrics"  # lsbert:metrics, one hash of counters for every process


def connect(url: str) -> Redis:
    # Short timeouts: a webhook must be answered within Label Studio's 1 s even when
    # Redis is gone, with an error rather than silence.
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)


def as_text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def key(*parts: object) -> str:
    return ":".join([PREFIX, *map(str, parts)])


def project_key(project: int, name: str) -> str:
    return key("project", project, name)


class ProjectConfigs:
    """The last label config seen for each project (from /setup and webhooks)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def save(self, project: int, label_config: str) -> None:
        self.redis.set(project_key(project, LABEL_CONFIG), label_config)

    def get(self, project: int) -> str | None:
        return as_text(self.redis.get(project_key(project, LABEL_CONFIG))) or None

    def projects(self) -> list[int]:
        """The projects whose config was seen: connected, trained or not."""
        found = self.redis.scan_iter(match=key("project", "*", LABEL_CONFIG), count=500)
        ids = (as_text(name).split(":")[2] for name in found)
        return sorted({int(i) for i in ids if i.isdigit()})


class WebhookAnnotations:
    """Annotations as webhooks delivered them, for training when no API key is configured.

    One hash per project, task id -> the task with its annotations, in the same shape as
    Label Studio's JSON export, so one code path turns both into examples. Redis keeps
    them durably (the embedded server writes an append-only file).
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def _key(self, project: int) -> str:
        return project_key(project, WEBHOOK_TASKS)

    def _lock(self, project: int):  # type: ignore[no-untyped-def]
        # Read-modify-write of a task's record: two webhooks at once must not lose one.
        return self.redis.lock(project_key(project, WEBHOOK_LOCK), timeout=10, blocking_timeout=5)

    def save(self, project: int, task: dict, annotation: dict) -> None:
        task_id = int(task["id"])
        with self._lock(project):
            stored = readable(self.redis.hget(self._key(project), str(task_id)))
            record: dict = stored or {"id": task_id, "annotations": []}
            record["data"] = task.get("data") or record.get("data") or {}
            others = [a for a in annotations_of(record) if a.get("id") != annotation.get("id")]
            record["annotations"] = [*others, stamped(annotation)]
            self.redis.hset(self._key(project), str(task_id), json.dumps(record))

    def delete(self, project: int, annotation_ids: set[int]) -> int:
        """Forget the given annotations; returns how many were removed."""
        with self._lock(project):
            return self._delete(project, annotation_ids)

    def _delete(self, project: int, annotation_ids: set[int]) -> int:
        removed = 0
        for task_id, stored in self.redis.hgetall(self._key(project)).items():
            record = readable(stored)
            if record is None:
                continue  # not ours to fix: training counts it and leaves it out
            annotations = annotations_of(record)
            kept = [a for a in annotations if a.get("id") not in annotation_ids]
            if len(kept) == len(annotations):
                continue
            removed += len(annotations) - len(kept)
            if kept:
                record["annotations"] = kept
                self.redis.hset(self._key(project), task_id, json.dumps(record))
            else:
                self.redis.hdel(self._key(project), task_id)
        return removed

    def count(self, project: int) -> int:
        return int(self.redis.hlen(self._key(project)))

    def tasks(self, project: int) -> list[dict]:
        return [json.loads(v) for v in self.redis.hvals(self._key(project))]


def readable(stored: bytes | str | None) -> dict | None:
    """A stored task record, or None where it is missing or not one (written by another
    program, or by hand): webhooks must go on for the project all the same."""
    try:
        record = json.loads(stored) if stored else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def annotations_of(record: dict) -> list[dict]:
    """The record's annotations that are objects; anything else in the list is dropped
    with the next change of the task."""
    found = record.get("annotations")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def stamped(annotation: dict) -> dict:
    """The fields training needs, with a time to order updates when Label Studio sent none."""
    return {
        "id": annotation.get("id"),
        "result": annotation.get("result") or [],
        "was_cancelled": bool(annotation.get("was_cancelled")),
        "created_at": annotation.get("created_at"),
        "updated_at": annotation.get("updated_at") or utc_now(),
    }


class AnnotationChanges:
    """Annotation changes since the project's last run began, and a full-retrain request.

    Webhooks add to the count; a run takes it when it starts, so changes made during a run
    count towards the next one and none is lost.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def add(self, project: int, count: int) -> int:
        return int(self.redis.incrby(project_key(project, CHANGES), count))

    def count(self, project: int) -> int:
        """The changes counted since the last run began, left as they are."""
        return int(self.redis.get(project_key(project, CHANGES)) or 0)

    def take(self, project: int) -> int:
        """The changes counted so far, and a fresh count from now on (called by a run)."""
        return int(self.redis.getset(project_key(project, CHANGES), 0) or 0)

    def request_full(self, project: int) -> None:
        self.redis.set(project_key(project, FULL_RETRAIN), 1)

    def take_full_request(self, project: int) -> bool:
        return bool(self.redis.getdel(project_key(project, FULL_RETRAIN)))
