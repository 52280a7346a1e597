"""The functions RQ runs in the worker. Imported by name: the web process never loads them."""

from __future__ import annotations

import logging
import time

from rq import get_current_job

from backend.errors import TrainingSkipped
from backend.metrics import Metrics
from backend.settings import Settings
from backend.trainer import run_training
from backend.training_queue import TrainingQueue

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between progress saves to Redis


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
        with queue.training_lock(project):
            log.info("job %s: training project %s (%s)", job.id, project, reason)
            result = run_training(settings, job.connection, project, ProgressRecorder(job))
        outcome = "published"
        return result
    except TrainingSkipped as skipped:
        outcome = "skipped"
        log.info("job %s: nothing to train for project %s: %s", job.id, project, skipped)
        return {"outcome": "skipped", "reason": str(skipped)}
    finally:
        metrics.add("lsbert_training_jobs_total", outcome=outcome)
        metrics.add("lsbert_training_seconds_total", round(time.monotonic() - started, 3))
