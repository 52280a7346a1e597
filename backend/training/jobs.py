"""The functions RQ runs in the worker. Imported by name: the web process never loads them."""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock
from rq import get_current_job

from backend.clock import Periodic, utc_now
from backend.errors import TrainingSkipped
from backend.metrics import Metrics
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.push.queue import request_push
from backend.training.queue import TRAINING_LOCK_TTL, TrainingQueue
from backend.training.run import run_training

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between progress saves to Redis
# Three renewals may fail (Redis away a moment) before the lock expires under a live run
LOCK_RENEW_EVERY = TRAINING_LOCK_TTL / 4


class ProgressRecorder:
    """Keeps the job's progress (stage, epoch, step, loss) in its meta, and in the log,
    with the stage's pace: when it started, steps per second, and seconds left at that pace
    (what the project page's ETA says). Saved every PROGRESS_EVERY seconds, and whenever
    the stage changes."""

    def __init__(self, job, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.job = job
        self.clock = clock
        self.saved_at = -PROGRESS_EVERY
        self.stage: tuple = ()
        self.stage_started = 0.0
        self.stage_started_at = ""
        self.first_step = 0

    def __call__(self, stage: str, details: dict) -> None:
        now = self.clock()
        step = int(details.get("step") or 0)
        key = (stage, details.get("control"), details.get("stage"))
        changed = key != self.stage
        if changed:  # a new stage (or control): its pace starts afresh
            self.stage, self.stage_started, self.first_step = key, now, step
            self.stage_started_at = utc_now()
        if now - self.saved_at < PROGRESS_EVERY and not changed:
            return
        self.saved_at = now
        self.job.meta["progress"] = {"stage": stage, **details, **self.pace(now, details)}
        try:
            self.job.save_meta()
        except RedisError as error:  # Redis away a moment: the run goes on, and says so
            log.warning("job %s: could not save its progress: %s", self.job.id, error)
        log.info("job %s %s: %s", self.job.id, stage, details)

    def pace(self, now: float, details: dict) -> dict:
        done, elapsed = int(details.get("step") or 0) - self.first_step, now - self.stage_started
        rate = done / elapsed if done > 0 and elapsed > 0 else None
        total = details.get("total_steps")
        left = (total - details["step"]) / rate if rate and total else None
        return {
            "stage_started_at": self.stage_started_at,
            "steps_per_second": round(rate, 2) if rate else None,
            "eta_seconds": round(left) if left is not None else None,
        }


def renewing(lock: Lock, every: float | None = None) -> Periodic:
    """Renews a held lock from a thread while a run lasts: if the worker dies, the lock
    expires within its timeout instead of blocking the project's next run."""

    def renew() -> bool:
        try:
            lock.reacquire()
        except LockNotOwnedError:
            log.error(
                "lock %s expired under a live run: another run of the project may start",
                lock.name,
            )
            return False
        except RedisError as error:
            log.warning("could not renew lock %s, will retry: %s", lock.name, error)
        return True

    # the module's pace read at each call (a test shortens it), a push lock's own if given
    pace = every if every is not None else LOCK_RENEW_EVERY
    return Periodic(renew, pace, "lsbert-lock-renewer", wait_first=True)


def push_after_publishing(
    settings: Settings, redis: Redis, project: int, result: dict
) -> str | None:
    """Queue the push of the version this run made serve; the run stands if that fails."""
    reason = f"{result['version']} published"
    try:
        request = request_push(settings, redis, ModelStore(settings.model_dir), project, reason)
    except (RedisError, LockError) as error:
        log.error(
            "project %s: could not queue the push of %s: %s", project, result["version"], error
        )
        return None
    return request.job_id if request is not None else None


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
        with queue.training_lock(project) as lock, renewing(lock):
            log.info("job %s: training project %s (%s)", job.id, project, reason)
            result = run_training(settings, job.connection, project, ProgressRecorder(job))
        outcome = result.get("outcome", "published")
        if outcome == "published":
            result["push_job_id"] = push_after_publishing(settings, job.connection, project, result)
        return result
    except TrainingSkipped as skipped:
        outcome = "skipped"
        log.info("job %s: nothing to train for project %s: %s", job.id, project, skipped)
        return {"outcome": "skipped", "reason": str(skipped)}
    finally:
        metrics.add("lsbert_training_jobs_total", outcome=outcome)
        metrics.add("lsbert_training_seconds_total", round(time.monotonic() - started, 3))
