"""Training requests on the RQ queue: at most one pending and one running job per project.

A request while the project's latest job waits joins it: that job reads the annotations
when it starts, so it will see the change. A request while the latest job runs queues one
more job, deferred until the running one ends. A burst of events therefore costs at most
two training runs, and never loses the last one. The job's own status in RQ tells which
case applies, so there is no state of ours to get out of step with it.
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


def latest_key(project: int) -> str:
    return key("project", project, "latest_job")


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

    def request(self, project: int, reason: str) -> TrainingRequest:
        """Join the project's waiting job, or queue a new one (behind the running one)."""
        lock = self.redis.lock(
            key("project", project, "queue_lock"), timeout=10, blocking_timeout=5
        )
        with lock:
            latest = fetch_job(self.redis, self.redis.get(latest_key(project)))
            status = latest.get_status() if latest is not None else None
            if latest is not None and status in WAITING:
                return TrainingRequest(latest.id, coalesced=True)
            after = None
            if latest is not None and status == JobStatus.STARTED:
                after = Dependency(jobs=[latest.id], allow_failure=True)
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
            self.redis.set(latest_key(project), job.id, ex=KEEP_RESULTS)
            return TrainingRequest(job.id, coalesced=False)

    def training_lock(self, project: int):  # type: ignore[no-untyped-def]
        """Held for a whole run: two workers never train the same project at once."""
        return self.redis.lock(
            key("project", project, "training_lock"),
            timeout=self.job_timeout,
            blocking_timeout=self.job_timeout,
        )
