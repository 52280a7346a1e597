"""Training requests on the RQ queue: at most one pending and one running job per project.

A request while a job is pending joins it: the pending job reads the annotations when it
starts, so it will see the change. A request while a job runs queues one more job after it.
A burst of events therefore costs at most two training runs, and never loses the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Dependency, Job, JobStatus

from backend.redis_store import as_text, key

QUEUE_NAME = "training"
JOB_FUNCTION = "backend.jobs.train_project"
WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
KEEP_RESULTS = 7 * 24 * 3600  # seconds finished and failed jobs stay readable


@dataclass(frozen=True)
class TrainingRequest:
    job_id: str
    coalesced: bool  # joined a job that was already waiting


def pending_key(project: int) -> str:
    return key("project", project, "pending_job")


def running_key(project: int) -> str:
    return key("project", project, "running_job")


def fetch_job(redis: Redis, job_id: bytes | str | None) -> Job | None:
    if not job_id:
        return None
    try:
        return Job.fetch(as_text(job_id), connection=redis)
    except NoSuchJobError:
        return None


class TrainingQueue:
    def __init__(self, redis: Redis, job_timeout: int) -> None:
        self.redis = redis
        self.job_timeout = job_timeout
        self.queue = Queue(QUEUE_NAME, connection=redis)

    def project_lock(self, project: int):  # type: ignore[no-untyped-def]
        return self.redis.lock(
            key("project", project, "queue_lock"), timeout=10, blocking_timeout=5
        )

    def request(self, project: int, reason: str) -> TrainingRequest:
        with self.project_lock(project):
            pending = fetch_job(self.redis, self.redis.get(pending_key(project)))
            if pending is not None and pending.get_status() in WAITING:
                return TrainingRequest(pending.id, coalesced=True)
            running = fetch_job(self.redis, self.redis.get(running_key(project)))
            after = None
            if running is not None and running.get_status() == JobStatus.STARTED:
                after = Dependency(jobs=[running.id], allow_failure=True)
            job = self.queue.enqueue_call(
                JOB_FUNCTION,
                args=(project,),
                kwargs={"reason": reason},
                timeout=self.job_timeout,
                result_ttl=KEEP_RESULTS,
                failure_ttl=KEEP_RESULTS,
                depends_on=after,
                description=f"train project {project} ({reason})",
            )
            self.redis.set(pending_key(project), job.id, ex=KEEP_RESULTS)
            return TrainingRequest(job.id, coalesced=False)

    def mark_running(self, project: int, job_id: str) -> None:
        """Called by a job as it starts: it is no longer pending, later requests queue after it."""
        with self.project_lock(project):
            self.redis.set(running_key(project), job_id, ex=self.job_timeout)
            if as_text(self.redis.get(pending_key(project))) == job_id:
                self.redis.delete(pending_key(project))

    def mark_ended(self, project: int, job_id: str) -> None:
        with self.project_lock(project):
            if as_text(self.redis.get(running_key(project))) == job_id:
                self.redis.delete(running_key(project))

    def training_lock(self, project: int):  # type: ignore[no-untyped-def]
        """Held for a whole run: two workers never train the same project at once."""
        return self.redis.lock(
            key("project", project, "training_lock"),
            timeout=self.job_timeout,
            blocking_timeout=self.job_timeout,
        )
