"""When annotation events start a training run.

The first run starts once a project has TRAIN_MIN_ANNOTATIONS annotated tasks; later runs
once TRAIN_EVERY_CHANGES annotations were created, updated or deleted since the last run
began. START_TRAINING always starts one. The count lives in Redis and is taken by the run
when it starts, so changes made during a run count towards the next one and none is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from backend.redis_store import key


@dataclass(frozen=True)
class Verdict:
    train: bool
    reason: str


def changes_key(project: int) -> str:
    return key("project", project, "changes_since_run")


def full_key(project: int) -> str:
    return key("project", project, "full_retrain_requested")


class AnnotationChanges:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def add(self, project: int, count: int) -> int:
        return int(self.redis.incrby(changes_key(project), count))

    def take(self, project: int) -> int:
        """The changes counted so far, and a fresh count from now on (called by a run)."""
        return int(self.redis.getset(changes_key(project), 0) or 0)

    def request_full(self, project: int) -> None:
        self.redis.set(full_key(project), 1)

    def take_full_request(self, project: int) -> bool:
        return bool(self.redis.getdel(full_key(project)))


def verdict(
    changes: int,
    annotated: int | None,
    has_version: bool,
    min_annotations: int,
    every_changes: int,
) -> Verdict:
    """Whether annotation events justify a run now. `annotated` is the project's count of
    annotated tasks where known (Label Studio sends it with each event)."""
    if not has_version:
        count = annotated if annotated is not None else changes
        if count >= min_annotations:
            return Verdict(True, f"{count} annotated tasks, first run at {min_annotations}")
        return Verdict(False, f"{count} annotated tasks; the first run starts at {min_annotations}")
    if changes >= every_changes:
        return Verdict(True, f"{changes} annotation changes since the last run")
    return Verdict(
        False,
        f"{changes} annotation changes since the last run; the next starts at {every_changes}",
    )
