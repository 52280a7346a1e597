"""Training requests on the RQ queue: at most one pending and one running job per project.

A request while the project's latest job waits joins it: that job reads the annotations
when it starts, so it will see the change. A request while the latest job runs queues one
more job, deferred until the running one ends. A burst of events therefore costs at most
two training runs, and never loses the last one. The job's own status in RQ tells which
case applies, so there is no state of ours to get out of step with it.

A job whose worker died (SIGKILL, out of memory, a lost machine) stays STARTED in RQ, as
RQ cannot tell a dead worker from a slow one. Workers heartbeat while they train
(backend.training.worker), so a worker whose key has expired is gone: its job is reported failed
with ABANDONED as the reason, and the job deferred on it is released, by the next request
for its project or by any worker's maintenance, whichever looks first.

A killed run is not retried: a kill in the middle of training is most often the kernel's
out-of-memory killer, and the same run would take the next worker down with it. A run has
nothing to resume either: the job released behind it, or the project's next request, trains
from scratch on every annotation, while the published version keeps serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Dependency, Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import BaseWorker

from backend.metrics import Metrics
from backend.redis_store import LATEST_JOB, QUEUE_LOCK, TRAINING_LOCK, as_text, project_key

log = logging.getLogger(__name__)
QUEUE_NAME = "training"
JOB_FUNCTION = "backend.training.jobs.train_project"
PUSH_QUEUE = "predictions"  # taken before "training" (backend.training.push.queue)
PUSH_FUNCTION = "backend.training.push.job.push_predictions"
QUEUE_FUNCTIONS = {QUEUE_NAME: JOB_FUNCTION, PUSH_QUEUE: PUSH_FUNCTION}  # the one each runs
WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
KEEP_RESULTS = 7 * 24 * 3600  # seconds finished and failed jobs stay readable
# A dead worker's lock expires this long after its last renewal (backend.training.jobs renews it
# while the job runs), before its worker counts as gone (backend.training.worker)
TRAINING_LOCK_TTL = 60
ABANDONED = "the worker running it stopped (killed or crashed) before the job ended"
# Jobs, their meta and their results are JSON in Redis, read and written by every process
# with this serializer: data, unlike a pickle, runs no code when it is read back, so a
# writer to Redis can plant a training request at most (and BackendJob runs only ours).
SERIALIZER = JSONSerializer


class BackendJob(Job):
    """An RQ job that runs its queue's function and nothing else: whatever function name
    a job's data gives, the worker refuses any other, so that a job planted in Redis
    cannot name os.system and have the worker call it."""

    @property
    def func(self):  # type: ignore[no-untyped-def]
        allowed = QUEUE_FUNCTIONS.get(self.origin)
        if self.func_name != allowed:
            raise PermissionError(
                f"job {self.id} on queue {self.origin!r} names {self.func_name!r}: this "
                f"worker only runs {allowed or 'the functions of its own queues'} there"
            )
        return super().func


def backend_queue(redis: Redis, name: str = QUEUE_NAME) -> Queue:
    """One of RQ's queues ("training", "predictions"), reading and writing JSON jobs."""
    return Queue(name, connection=redis, serializer=SERIALIZER, job_class=BackendJob)


def training_queue(redis: Redis) -> Queue:
    return backend_queue(redis, QUEUE_NAME)


@dataclass(frozen=True)
class TrainingRequest:
    job_id: str
    coalesced: bool  # joined a job that was already waiting


def fetch_job(redis: Redis, job_id: bytes | str | None) -> Job | None:
    if not job_id:
        return None
    try:
        return BackendJob.fetch(as_text(job_id), connection=redis, serializer=SERIALIZER)
    except NoSuchJobError:
        return None


class TrainingQueue:
    def __init__(self, redis: Redis, job_timeout: int) -> None:
        self.redis = redis
        self.job_timeout = job_timeout
        self.queue = training_queue(redis)

    def request(self, project: int, reason: str) -> TrainingRequest:
        """Join the project's waiting job, or queue a new one (behind the running one).

        First, the latest job, or the job it waits for, fails if its worker is gone: then a
        new job does not wait on a dead one, and a waiting job is released.
        """
        lock = self.redis.lock(project_key(project, QUEUE_LOCK), timeout=10, blocking_timeout=5)
        with lock:
            latest = fetch_job(self.redis, self.redis.get(project_key(project, LATEST_JOB)))
            if latest is not None:
                fail_abandoned_jobs(self.redis, [latest, *latest.fetch_dependencies()])
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
            self.redis.set(project_key(project, LATEST_JOB), job.id, ex=KEEP_RESULTS)
            return TrainingRequest(job.id, coalesced=False)

    def training_lock(self, project: int):  # type: ignore[no-untyped-def]
        """Held for a whole run: two workers never train the same project at once.

        It expires TRAINING_LOCK_TTL after its last renewal, so its holder renews it; the
        token is shared between threads so that a thread beside the job can renew it.
        A run that outlived its lock has still published whole, so releasing it only warns.
        """
        return self.redis.lock(
            project_key(project, TRAINING_LOCK),
            timeout=TRAINING_LOCK_TTL,
            blocking_timeout=self.job_timeout,
            thread_local=False,
            raise_on_release_error=False,
        )


def started_jobs(redis: Redis) -> list[Job]:
    registry = training_queue(redis).started_job_registry
    ids = [job_id for job_id, _ in registry.get_job_and_execution_ids(cleanup=False)]
    unique = list(dict.fromkeys(ids))
    return [job for job in BackendJob.fetch_many(unique, redis, serializer=SERIALIZER) if job]


def fail_abandoned_jobs(redis: Redis, jobs: list[Job] | None = None) -> list[str]:
    """Report failed the started jobs (all of them by default) whose worker is gone."""
    candidates = started_jobs(redis) if jobs is None else jobs
    return [
        job.id
        for job in candidates
        if job.get_status() == JobStatus.STARTED
        and not worker_alive(redis, job.worker_name)
        and fail_abandoned(redis, job)
    ]


def worker_alive(redis: Redis, name: str | None) -> bool:
    """Whether the worker still heartbeats. Read from its key, not with Worker.find_by_key,
    which would raise the socket timeout of the caller's connection pool to RQ's 415 s."""
    if not name:
        return True  # not ours to judge: RQ's registry expiry will
    worker_key = BaseWorker.redis_worker_namespace_prefix + name
    return bool(redis.exists(worker_key)) and not redis.hexists(worker_key, "death")


def fail_abandoned(redis: Redis, job: Job, counter: str = "lsbert_training_jobs_total") -> bool:
    """Fail a started job whose worker is gone and release the jobs deferred on it.

    The same bookkeeping as RQ's StartedJobRegistry.cleanup, with a readable reason, and
    run as soon as the worker is gone rather than when the registry entry expires. False
    when another process got there first.
    """
    registry = StartedJobRegistry(job.origin, connection=redis, serializer=SERIALIZER)
    executions = [
        Execution(execution_id, job.id, redis, worker_name=job.worker_name or "")
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False)
        if job_id == job.id
    ]
    with redis.pipeline() as pipe:
        try:
            pipe.watch(job.key)
            if as_text(pipe.hget(job.key, "status")) != JobStatus.STARTED:
                return False
            pipe.multi()
            job.ended_at = now()
            record_job_failure(job, ABANDONED, pipe)
            for execution in executions:
                execution.delete(job, pipe)
            pipe.execute()
        except WatchError:
            return False
    log.warning("job %s failed: %s (worker %s)", job.id, ABANDONED, job.worker_name)
    Metrics(redis).add(counter, outcome="abandoned")
    backend_queue(redis, job.origin).enqueue_dependents(job)
    return True
