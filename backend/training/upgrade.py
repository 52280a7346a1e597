"""Training jobs queued by an earlier release, carried over to this release's jobs.

Releases before this one stored jobs as pickles, which this release never reads (a pickle
runs code as it is read: see training.queue.SERIALIZER); releases before the sub-packages
also named another function, `backend.jobs.train_project`. Such a job is never run or
deserialised here: RQ keeps its description as plain text ("train project N (reason)"),
which says all a training request needs, so each waiting one is replaced by a request of
today's kind for the same project and reason. Workers do this as they start, before they
take any job; jobs of this release (JSON data naming today's function) are left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import zlib

from redis import Redis
from rq.job import Job

from backend.redis_store import as_text
from backend.training.queue import TrainingQueue, training_queue

log = logging.getLogger(__name__)
LEGACY_FUNCTIONS = (b"backend.jobs.train_project",)
DESCRIPTION = re.compile(r"train project (\d+) \((.*)\)", re.DOTALL)


def waiting_job_ids(redis: Redis) -> list[str]:
    queue = training_queue(redis)
    ids = queue.get_job_ids()
    for registry in (queue.deferred_job_registry, queue.scheduled_job_registry):
        ids += registry.get_job_ids(cleanup=False)
    return list(dict.fromkeys(ids))


def is_legacy(data: bytes | None) -> bool:
    """Whether a job's stored data is an earlier release's: a pickle (anything that is not
    a JSON job), or an older function's name. Read as JSON or searched as bytes, never run
    as a pickle would be. A JSON job naming another function is left to the worker, which
    fails it (training.queue.BackendJob)."""
    if not data:
        return False
    with contextlib.suppress(zlib.error):  # RQ stores data compressed, but reads it plain too
        data = zlib.decompress(data)
    if any(name in data for name in LEGACY_FUNCTIONS):
        return True
    try:
        job = json.loads(data)
    except ValueError:  # not JSON, nor even text: a pickle
        return True
    # RQ's JSON job: [function name, instance, args, kwargs]
    return not (isinstance(job, list) and len(job) == 4 and isinstance(job[0], str))


def forget(redis: Redis, job_id: str) -> None:
    """Remove a job from the queue, its registries and Redis, without reading its data."""
    queue = training_queue(redis)
    with redis.pipeline() as pipe:
        pipe.lrem(queue.key, 0, job_id)
        for registry in (queue.deferred_job_registry, queue.scheduled_job_registry):
            pipe.zrem(registry.key, job_id)
        pipe.delete(Job.key_for(job_id), Job.dependents_key_for(job_id))
        pipe.execute()


def migrate_legacy_jobs(redis: Redis, queue: TrainingQueue) -> list[int]:
    """Re-queue the earlier release's waiting jobs as today's; the projects they were for."""
    projects = []
    for job_id in waiting_job_ids(redis):
        data, description = redis.hmget(Job.key_for(job_id), "data", "description")
        if not is_legacy(data if isinstance(data, bytes) else None):
            continue
        found = DESCRIPTION.fullmatch(as_text(description))
        forget(redis, job_id)
        if found is None:
            log.warning(
                "dropped job %s of an earlier release: its description is unreadable", job_id
            )
            continue
        project, reason = int(found.group(1)), found.group(2)
        request = queue.request(project, reason=f"{reason} (queued before an upgrade)")
        log.info("job %s of an earlier release is now job %s", job_id, request.job_id)
        projects.append(project)
    return projects
