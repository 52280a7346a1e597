"""Push requests on RQ's `predictions` queue, which workers take before `training`: at most
one waiting and one running push per project.

The web process may import this module (it only enqueues: the job itself is
backend.training.push.job, imported by name). A request for the version a waiting push
will push joins it; a request for another version cancels that waiting push, which would
only be cancelled when it starts. A request while a push runs queues one more behind it:
the running push stops at its next batch when its version no longer serves, or, for the
same version, the one behind it stores what the running one could not see (tasks imported
meanwhile).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis import Redis
from rq.job import Dependency, Job, JobStatus
from rq.utils import now

from backend.redis_store import LATEST_PUSH, PUSH_QUEUE_LOCK, project_key
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.queue import (
    KEEP_RESULTS,
    PUSH_FUNCTION,
    PUSH_QUEUE,
    WAITING,
    backend_queue,
    fetch_job,
)

log = logging.getLogger(__name__)
RETRY_FAILED_AFTER = 300  # seconds before /setup asks again for a push that failed


@dataclass(frozen=True)
class PushRequest:
    job_id: str
    version: str
    coalesced: bool  # joined a push of the same version that was already waiting


class PushQueue:
    def __init__(self, redis: Redis, job_timeout: int) -> None:
        self.redis = redis
        self.job_timeout = job_timeout
        self.queue = backend_queue(redis, PUSH_QUEUE)

    def request(
        self, project: int, version: str, reason: str, meta: dict | None = None
    ) -> PushRequest:
        lock = self.redis.lock(
            project_key(project, PUSH_QUEUE_LOCK), timeout=10, blocking_timeout=5
        )
        with lock:
            latest = fetch_job(self.redis, self.redis.get(project_key(project, LATEST_PUSH)))
            status = latest.get_status() if latest is not None else None
            after: list[str] = []
            if latest is not None and status in WAITING:
                if latest.kwargs.get("version") == version:
                    return PushRequest(latest.id, version, coalesced=True)
                after = latest.dependency_ids  # the running push it waited for, if any
                latest.cancel(remove_from_dependencies=True)
                log.info(
                    "push %s of project %s canceled: %s serves now", latest.id, project, version
                )
            elif latest is not None and status == JobStatus.STARTED:
                after = [latest.id]
            job = self.enqueue(project, version, reason, after, meta)
            self.redis.set(project_key(project, LATEST_PUSH), job.id, ex=KEEP_RESULTS)
            return PushRequest(job.id, version, coalesced=False)

    def pushed_or_pushing(self, project: int, version: str) -> bool:
        """Whether the project's latest push is of `version` and has not failed (or failed
        less than RETRY_FAILED_AFTER ago): then nothing needs to be asked again."""
        latest = fetch_job(self.redis, self.redis.get(project_key(project, LATEST_PUSH)))
        if latest is None or latest.kwargs.get("version") != version:
            return False
        if latest.get_status() not in (JobStatus.FAILED, JobStatus.CANCELED):
            return True
        ended = latest.ended_at
        return ended is not None and (now() - ended).total_seconds() < RETRY_FAILED_AFTER

    def enqueue(
        self, project: int, version: str, reason: str, after: list[str], meta: dict | None
    ) -> Job:
        return self.queue.enqueue_call(
            PUSH_FUNCTION,
            args=(project,),
            kwargs={"version": version, "reason": reason},
            timeout=self.job_timeout,
            result_ttl=KEEP_RESULTS,
            failure_ttl=KEEP_RESULTS,
            depends_on=Dependency(jobs=after, allow_failure=True) if after else None,
            description=f"push {version} of project {project} ({reason})",
            meta=meta,
        )


def ensure_pushed(
    settings: Settings, redis: Redis, store: ModelStore, project: int
) -> PushRequest | None:
    """A push of the served version unless it was pushed, is being pushed, or failed a
    moment ago: Label Studio calling /setup means the project exists and can be reached,
    so a project connected after its versions were trained, or a push that failed while
    Label Studio was away, gets its predictions."""
    version = store.current_version(project)
    if not settings.pushes or version is None:
        return None
    queue = PushQueue(redis, settings.push_job_timeout)
    if queue.pushed_or_pushing(project, version):
        return None
    return queue.request(project, version, f"{version} not in Label Studio yet (/setup)")


def request_push(
    settings: Settings,
    redis: Redis,
    store: ModelStore,
    project: int,
    reason: str,
    meta: dict | None = None,
) -> PushRequest | None:
    """Queue a push of the version the project serves now; None when pushes are off
    (webhook mode, or PUSH_PREDICTIONS=false) or no version serves."""
    version = store.current_version(project)
    if not settings.pushes or version is None:
        return None
    return PushQueue(redis, settings.push_job_timeout).request(project, version, reason, meta)
