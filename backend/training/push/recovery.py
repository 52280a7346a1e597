"""Pushes whose worker died (SIGKILL, out of memory, a lost machine), failed and resumed.

A running push renews its project's push lock every few seconds. A push STARTED in RQ
whose lock has expired is gone: it is reported failed with the usual reason, and a new
push of the version the project serves now is queued. That one reads what Label Studio
holds before it predicts, so nothing is stored twice. Unlike a training run, a push is
resumed: it holds one model and a batch of tasks, not the memory that gets training runs
killed. A push is resumed at most MAX_RESUMES times in a row.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import now

from backend.redis_store import PUSH_LOCK, project_key
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.push.job import PUSH_LOCK_TTL
from backend.training.push.queue import request_push
from backend.training.queue import PUSH_QUEUE, SERIALIZER, BackendJob, fail_abandoned

log = logging.getLogger(__name__)
MAX_RESUMES = 3
RESUMES = "resumes"  # a job's meta: how many pushes in a row were resumed before it


def started_pushes(redis: Redis) -> list[Job]:
    registry = StartedJobRegistry(PUSH_QUEUE, connection=redis, serializer=SERIALIZER)
    ids = [job_id for job_id, _ in registry.get_job_and_execution_ids(cleanup=False)]
    unique = list(dict.fromkeys(ids))
    return [job for job in BackendJob.fetch_many(unique, redis, serializer=SERIALIZER) if job]


def lock_expired(redis: Redis, job: Job) -> bool:
    """The job's project has no push lock, and the job started long enough ago to have
    taken it (it is the first thing a push does)."""
    project = job.args[0] if job.args else None
    if not isinstance(project, int) or redis.exists(project_key(project, PUSH_LOCK)):
        return False
    started = job.started_at
    return started is not None and (now() - started).total_seconds() > 2 * PUSH_LOCK_TTL


def resume_abandoned_pushes(redis: Redis, settings: Settings) -> list[str]:
    """Fail the started pushes whose push lock expired, and queue their resumption; the
    ids of the pushes queued."""
    queued = []
    for job in started_pushes(redis):
        if job.get_status() != JobStatus.STARTED or not lock_expired(redis, job):
            continue
        if not fail_abandoned(redis, job, counter="lsbert_push_jobs_total"):
            continue  # another process got there first
        resumes = int(job.meta.get(RESUMES, 0)) + 1
        if resumes > MAX_RESUMES:
            log.error("push %s stopped %d times in a row: not resumed again", job.id, resumes)
            continue
        project = int(job.args[0])
        store = ModelStore(settings.model_dir)
        reason = f"resumes push {job.id}, stopped before it ended"
        request = request_push(settings, redis, store, project, reason, {RESUMES: resumes})
        if request is not None and not request.coalesced:
            queued.append(request.job_id)
            log.warning("push %s stopped before it ended: resumed as %s", job.id, request.job_id)
    return queued
