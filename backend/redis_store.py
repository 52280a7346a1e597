"""Redis: the connection, and what the backend keeps there besides the job queue."""

from __future__ import annotations

import json
import time

from redis import Redis

PREFIX = "lsbert"


def connect(url: str) -> Redis:
    # Short timeouts: a webhook must be answered within Label Studio's 1 s even when
    # Redis is gone, with an error rather than silence.
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)


def as_text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def key(*parts: object) -> str:
    return ":".join([PREFIX, *map(str, parts)])


class ProjectConfigs:
    """The last label config seen for each project (from /setup and webhooks)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def save(self, project: int, label_config: str) -> None:
        self.redis.set(key("project", project, "label_config"), label_config)

    def get(self, project: int) -> str | None:
        return as_text(self.redis.get(key("project", project, "label_config"))) or None


class WebhookAnnotations:
    """Annotations as webhooks delivered them, for training when no API key is configured.

    One hash per project, task id -> the task with its annotations, in the same shape as
    Label Studio's JSON export, so one code path turns both into examples. Redis keeps
    them durably (the embedded server writes an append-only file).
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def _key(self, project: int) -> str:
        return key("project", project, "webhook_tasks")

    def _lock(self, project: int):  # type: ignore[no-untyped-def]
        # Read-modify-write of a task's record: two webhooks at once must not lose one.
        return self.redis.lock(
            key("project", project, "webhook_lock"), timeout=10, blocking_timeout=5
        )

    def save(self, project: int, task: dict, annotation: dict) -> None:
        task_id = int(task["id"])
        with self._lock(project):
            stored = self.redis.hget(self._key(project), str(task_id))
            record: dict = json.loads(stored) if stored else {"id": task_id, "annotations": []}
            record["data"] = task.get("data") or record.get("data") or {}
            others = [a for a in record["annotations"] if a.get("id") != annotation.get("id")]
            record["annotations"] = [*others, stamped(annotation)]
            self.redis.hset(self._key(project), str(task_id), json.dumps(record))

    def delete(self, project: int, annotation_ids: set[int]) -> int:
        """Forget the given annotations; returns how many were removed."""
        with self._lock(project):
            return self._delete(project, annotation_ids)

    def _delete(self, project: int, annotation_ids: set[int]) -> int:
        removed = 0
        for task_id, stored in self.redis.hgetall(self._key(project)).items():
            record = json.loads(stored)
            kept = [a for a in record["annotations"] if a.get("id") not in annotation_ids]
            if len(kept) == len(record["annotations"]):
                continue
            removed += len(record["annotations"]) - len(kept)
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


def stamped(annotation: dict) -> dict:
    """The fields training needs, with a time to order updates when Label Studio sent none."""
    return {
        "id": annotation.get("id"),
        "result": annotation.get("result") or [],
        "was_cancelled": bool(annotation.get("was_cancelled")),
        "created_at": annotation.get("created_at"),
        "updated_at": annotation.get("updated_at")
        or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
    }
