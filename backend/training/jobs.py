"""The functions RQ runs in the worker. Imported by name: the web process never loads them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockNotOwnedError, RedisError
from redis.lock import Lock
from rq import get_current_job

from backend.errors import TrainingSkipped
from backend.metrics import Metrics
from backend.settings import Settings
from backend.training.queue import TRAINING_LOCK_TTL, TrainingQueue
from backend.training.run import run_training

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between progress saves to Redis
# Three renewals may fail (Redis away a moment) before the lock expires under a live run
LOCK_RENEW_EVERY = TRAINING_LOCK_TTL / 4


class ProgressRecorder:
    """Keeps the job's progress (stage, epoch, step, loss) in its meta, and in the log."""

    def __init__(self, job) -> None:  # type: ignore[no-untyped-def]
        self.job = job
        self.saved_at = 0.0

    def __call__(self, stage: str, details: dict) -> None:
        now = time.monotonic()
        if now - self.saved_at < PROGRESS_EVERY:
            return
        self.saved_at = now
        self.job.meta["progress"] = {"stage": stage, **details}
        self.job.save_meta()
        log.info("job %s %s: %s", self.job.id, stage, details)


def renew_until(lock: Lock, stopped: threading.Event) -> None:
    while not stopped.wait(LOCK_RENEW_EVERY):
        try:
            lock.reacquire()
        except LockNotOwnedError:
            log.error(
                "lock %s expired under a live run: another run of the project may start",
                lock.name,
            )
            return
        except RedisError as error:
            log.warning("could not renew lock %s, will retry: %s", lock.name, error)


@contextmanager
def kept_alive(lock: Lock) -> Iterator[None]:
    """Renew a held lock from a thread while the body runs: if the worker dies, the lock
    expires within TRAINING_LOCK_TTL instead of blocking the project's next run."""
    stopped = threading.Event()
    renewer = threading.Thread(
        target=renew_until, args=(lock, stopped), name="lsbert-lock-renewer", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stopped.set()
        renewer.join()


def train_project(project: int, reason: str = "") -> dict:
    job = get_current_job()
    if job is None:
        raise RuntimeError("train_project runs inside an RQ worker: enqueue it, do not call it")
    settings = Settings.from_env()
    queue = TrainingQueue(job.connection, settings.train_job_timeout)
    metrics = Metrics(job.connection)
    started = time.monotonic()
    outcome = "failed"
    try:
        with queue.training_lock(project) as lock, kept_alive(lock):
            log.info("job %s: training project %s (%s)", job.id, project, reason)
            result = run_training(settings, job.connection, project, ProgressRecorder(job))
        outcome = result.get("outcome", "published")
        return result
    except TrainingSkipped as skipped:
        outcome = "skipped"
        log.info("job %s: nothing to train for project %s: %s", job.id, project, skipped)
        return {"outcome": "skipped", "reason": str(skipped)}
    finally:
        metrics.add("lsbert_training_jobs_total", outcome=outcome)
        metrics.add("lsbert_training_seconds_total", round(time.monotonic() - started, 3))
