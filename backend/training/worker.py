"""The training worker: an RQ worker that runs jobs in its own process, without forking.

RQ's default worker forks a child per job; a fork of a process that already ran
multi-threaded torch can hang (GNU OpenMP). The SimpleWorker runs each job in the worker
process itself, so torch and the base model's files are loaded once and stay warm.

It takes pushes (the `predictions` queue) before training jobs: a new version's
predictions reach Label Studio as soon as the run that made it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from backend.clock import Periodic
from backend.redis_store import connect
from backend.settings import Settings
from backend.training.push.recovery import resume_abandoned_pushes
from backend.training.queue import (
    PUSH_QUEUE,
    QUEUE_NAME,
    SERIALIZER,
    BackendJob,
    TrainingQueue,
    backend_queue,
    fail_abandoned_jobs,
)
from backend.training.upgrade import migrate_legacy_jobs

log = logging.getLogger(__name__)
# RQ keeps a busy worker's key HEARTBEAT_EVERY + 60 s after each beat: a worker killed in
# the middle of a run counts as gone about a minute later, once its training lock expired.
HEARTBEAT_EVERY = 10
# The job's entry in RQ's started registry outlives the worker's key by this much, so that
# fail_abandoned_jobs reports the job with its reason before RQ's own cleanup would.
REGISTRY_GRACE = 30
# An idle worker wakes every WORKER_TTL - 15 s and looks for jobs of dead workers when
# SWEEP_EVERY has passed, so that a job deferred on one of them is released soon; RQ's
# own maintenance, which logs each time, keeps its default pace.
WORKER_TTL = 30
SWEEP_EVERY = 15
RQ_MAINTENANCE_EVERY = 600


class TrainingWorker(SimpleWorker):
    """A SimpleWorker that keeps its heartbeat while it trains.

    RQ's forking Worker beats from the parent while a child runs the job. The SimpleWorker
    runs the job in its only loop, so RQ gives it a heartbeat as long as the job timeout (an
    hour): killed, it looked alive, and its job STARTED, for that long. Here a thread beats
    as the forking worker's parent would.
    """

    rq_maintained_at: float | None = None
    settings: Settings | None = None  # set by run_worker: what resuming a push needs

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        beat = partial(self.maintain_heartbeats, job, execution)
        with beating(beat, self.job_monitoring_interval):
            self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.job_monitoring_interval + 60 + REGISTRY_GRACE

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        # RQ gave the worker's key the registry's longer TTL: back to a beat's
        self.heartbeat(self.job_monitoring_interval + 60)

    def run_maintenance_tasks(self) -> None:
        """Fail the jobs of dead workers, releasing the jobs deferred on them; then RQ's
        maintenance (expired registry entries, the worker registry) when it is due."""
        try:
            failed = fail_abandoned_jobs(self.connection)
            if failed:
                log.warning("worker %s: failed the abandoned jobs %s", self.name, failed)
            if self.settings is not None:
                resume_abandoned_pushes(self.connection, self.settings)
        except RedisError as error:
            log.warning("worker %s: could not look for abandoned jobs: %s", self.name, error)
        due = self.rq_maintained_at is None or (
            time.monotonic() - self.rq_maintained_at >= RQ_MAINTENANCE_EVERY
        )
        if due:
            self.rq_maintained_at = time.monotonic()
            super().run_maintenance_tasks()
        else:
            self.last_cleaned_at = now()  # type: ignore[assignment]  # RQ times SWEEP_EVERY from it


def beating(beat: Callable[[], None], every: float) -> Periodic:
    """Calls `beat` now and every `every` seconds from a thread, while the job runs."""

    def guarded() -> None:
        try:
            beat()
        except Exception:  # a dead thread would get the live job failed as abandoned
            log.exception("heartbeat failed, will retry")

    return Periodic(guarded, every, "lsbert-heartbeat")


def run_worker(settings: Settings, burst: bool = False, name: str | None = None) -> bool:
    from model.runtime import configure_threads

    configure_threads(settings.worker_torch_threads)
    redis = connect(settings.require_redis("worker"))
    worker = TrainingWorker(
        [backend_queue(redis, name) for name in (PUSH_QUEUE, QUEUE_NAME)],
        connection=redis,
        name=name,
        serializer=SERIALIZER,
        job_class=BackendJob,
        job_monitoring_interval=HEARTBEAT_EVERY,
        worker_ttl=WORKER_TTL,
        maintenance_interval=SWEEP_EVERY,
    )
    worker.settings = settings
    log.info(
        "worker %s: %d torch thread(s), training from %s",
        worker.name,
        settings.worker_torch_threads,
        settings.training_source,
    )
    migrate_legacy_jobs(redis, TrainingQueue(redis, settings.train_job_timeout))
    # maintenance runs first thing in work(): what dead workers left is failed or released
    return worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
