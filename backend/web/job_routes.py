"""Jobs as JSON: training runs and pushes, what waits, what runs, and how each ended
(GET /jobs).

Read only: the routes read the queues' lists, their registries and the jobs' hashes, and
write nothing, so a dashboard polling them cannot change what the workers do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from flask import Blueprint, Response, current_app, jsonify, request
from redis import Redis
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result

from backend.clock import iso
from backend.errors import BadRequest, NotFound
from backend.redaction import for_answer
from backend.redis_store import as_text
from backend.store import project_id
from backend.training.queue import (
    JOB_FUNCTION,
    PUSH_FUNCTION,
    PUSH_QUEUE,
    QUEUE_NAME,
    SERIALIZER,
    BackendJob,
    backend_queue,
    fetch_job,
)

log = logging.getLogger(__name__)
jobs_blueprint = Blueprint("jobs", __name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
FETCH_CHUNK = 500  # job hashes per Redis round trip
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what RQ accepts as a job id (uuid4s here)
STATUSES = ("queued", "deferred", "running", "finished", "failed", "canceled")
# each queue, the one function its jobs run, and what this API calls them
KINDS = {QUEUE_NAME: (JOB_FUNCTION, "training"), PUSH_QUEUE: (PUSH_FUNCTION, "push")}
PUSH_FIGURES = ("tasks", "already", "predicted", "stored", "invalid", "missing", "seconds")
ENDED = {"finished", "failed", "canceled"}
# RQ's statuses in this API's words: every way of waiting is "queued", but for "deferred"
# (waiting behind the project's running job), which tells why a job has not started
STATUS_NAMES = {
    JobStatus.CREATED: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.READY_TO_ENQUEUE: "queued",
    JobStatus.RATE_LIMITED: "queued",
    JobStatus.DEFERRED: "deferred",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "canceled",
    JobStatus.CANCELED: "canceled",
}


class JobNotFound(NotFound):
    code = "job_not_found"


def redis_connection() -> Redis:
    return current_app.extensions["lsbert"].redis


@jobs_blueprint.get("/jobs")
def jobs_index() -> Response:
    raw_project = request.args.get("project")
    project = project_id(raw_project) if raw_project is not None else None
    limit = query_limit(request.args.get("limit"))
    return jsonify(list_jobs(redis_connection(), project, limit, query_kind(request.args)))


@jobs_blueprint.get("/jobs/<job_id>")
def job_detail(job_id: str) -> Response:
    redis = redis_connection()
    job = fetch_listed_job(redis, job_id)
    latest = latest_results(redis, [job]).get(job.id)
    item = describe_job(job, latest)
    if item["status"] == "finished":
        item["result"] = latest.return_value if latest is not None else None
    return jsonify(item)


def query_kind(args) -> str | None:  # type: ignore[no-untyped-def]
    kind = args.get("kind")
    kinds = [name for _, name in KINDS.values()]
    if kind is not None and kind not in kinds:
        raise BadRequest(f"kind {kind!r} is not one of {', '.join(kinds)}", "send ?kind=push")
    return kind


def query_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    text = value.strip()
    # ASCII digits only: str.isdigit takes "²", which int() refuses
    if not (text.isascii() and text.isdigit()) or len(text) > 3 or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(
            f"limit {value!r} is not a whole number from 1 to {MAX_LIMIT}",
            f"send e.g. ?limit={DEFAULT_LIMIT}, or leave it out for the newest {DEFAULT_LIMIT}",
        )
    return int(text)


def list_jobs(redis: Redis, project: int | None, limit: int, kind: str | None = None) -> dict:
    """The newest `limit` jobs (of one project, or all; of one kind, or both), and counts of
    all by status."""
    jobs = fetch_jobs(redis, job_ids(redis))
    if project is not None:
        jobs = [job for job in jobs if job_project(job) == project]
    if kind is not None:
        jobs = [job for job in jobs if kind_of(job) == kind]
    jobs.sort(key=lambda job: (job.created_at, job.id), reverse=True)
    counts = dict.fromkeys(STATUSES, 0)
    for job in jobs:
        counts[status_of(job)] += 1
    page = jobs[:limit]
    results = latest_results(redis, page)
    return {"jobs": [describe_job(job, results.get(job.id)) for job in page], "counts": counts}


def job_ids(redis: Redis) -> list[str]:
    """Every job id the queues hold, once each: their lists and all their registries."""
    return list(dict.fromkeys(i for name in KINDS for i in queue_job_ids(redis, name)))


def queue_job_ids(redis: Redis, name: str) -> list[str]:
    queue = backend_queue(redis, name)
    ids = queue.get_job_ids()
    # a job a worker has just popped waits in this list until it is marked started
    ids += [as_text(job_id) for job_id in redis.lrange(queue.intermediate_queue_key, 0, -1)]
    registries = [
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.ready_job_registry,
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.canceled_job_registry,
    ]
    for registry in registries:
        # cleanup=False: a registry's cleanup writes (the started one fails abandoned jobs,
        # the ready one enqueues jobs); the workers' maintenance does that, not a GET
        ids += registry.get_job_ids(cleanup=False)
    return list(dict.fromkeys(ids))  # the started registry lists a job once per execution


def fetch_jobs(redis: Redis, job_ids: list[str]) -> list[Job]:
    """Our jobs among `job_ids` whose data still exists, read in a few round trips."""
    jobs: list[Job] = []
    for start in range(0, len(job_ids), FETCH_CHUNK):
        chunk = job_ids[start : start + FETCH_CHUNK]
        try:
            found = BackendJob.fetch_many(chunk, connection=redis, serializer=SERIALIZER)
        except NoSuchJobError:
            # a hash with fields but no job data (RQ wrote a field after the job expired)
            # fails the whole batch: read that chunk one job at a time, skipping such hashes
            found = [fetch_job(redis, job_id) for job_id in chunk]
        jobs += [job for job in found if job is not None and is_listed_job(job)]
    return jobs


def fetch_listed_job(redis: Redis, job_id: str) -> Job:
    if not JOB_ID.fullmatch(job_id):
        raise BadRequest(
            "a job id has only letters, digits, '-' and '_' (at most 128)",
            "use the job_id a webhook answered, or list the jobs with GET /jobs",
        )
    job = fetch_job(redis, job_id)
    # RQ reads "a:b" as job "a" (an execution's key), so the id must come back unchanged
    if job is None or job.id != job_id or not is_listed_job(job):
        raise JobNotFound(
            f"no job {job_id!r}: it never existed, its record expired, or it is neither a "
            "training job nor a push",
            "list the training jobs with GET /jobs (add ?project=N for one project)",
        )
    return job


def is_listed_job(job: Job) -> bool:
    try:
        function, _ = KINDS.get(job.origin, ("", ""))
        return job.func_name == function and bool(job.args)
    except DeserializationError:  # not JSON: written by another program or an old release
        return False


def kind_of(job: Job) -> str:
    return KINDS[job.origin][1]


def job_project(job: Job) -> int | None:
    project = job.args[0]
    return project if isinstance(project, int) else None


def status_of(job: Job) -> str:
    # the status cached from the job's hash: registries keep leftover entries (a job in
    # the started registry after it ended), the hash is what the worker last wrote
    return STATUS_NAMES.get(job.get_status(refresh=False), "queued")


def latest_results(redis: Redis, jobs: Iterable[Job]) -> dict[str, Result]:
    """The latest result of each ended job, by job id, in one round trip."""
    ended = [job for job in jobs if status_of(job) in ENDED]
    if not ended:
        return {}
    with redis.pipeline(transaction=False) as pipeline:
        for job in ended:
            pipeline.xrevrange(Result.get_key(job.id), "+", "-", count=1)
        answers = pipeline.execute()
    results = {}
    for job, answer in zip(ended, answers, strict=True):
        if not answer:
            continue  # expired with the job, or a job canceled before it ran
        result_id, payload = answer[0]
        try:
            results[job.id] = Result.restore(
                job.id, as_text(result_id), payload, connection=redis, serializer=SERIALIZER
            )
        except Exception:  # one unreadable result (not JSON) must not hide the rest
            log.warning("job %s: its result cannot be read back", job.id, exc_info=True)
    return results


def describe_job(job: Job, latest: Result | None = None) -> dict:
    """One job as the API shows it; `latest` is its latest result, for ended jobs."""
    status = status_of(job)
    item: dict = {
        "id": job.id,
        "kind": kind_of(job),
        "project": job_project(job),
        "reason": job.kwargs.get("reason", ""),
        "status": status,
        "enqueued_at": iso(job.enqueued_at),
        "started_at": iso(job.started_at),
        "ended_at": iso(job.ended_at),
        "progress": job.meta.get("progress"),
    }
    if status == "finished":
        value = latest.return_value if latest is not None else None
        value = value if isinstance(value, dict) else {}
        item["outcome"] = value.get("outcome")
        item["version"] = value.get("version") or job.kwargs.get("version")
        # why a run published nothing (skipped: the reason; rejected: the quality decision),
        # why a push stopped early (canceled, skipped)
        detail = value.get("reason") or value.get("decision")
        item["detail"] = for_answer(detail) if isinstance(detail, str) else detail
        if kind_of(job) == "push" and value.get("outcome") == "pushed":
            item["push"] = {key: value.get(key) for key in PUSH_FIGURES}
    elif status == "failed":
        item["error"] = last_line(latest.exc_string if latest is not None else None)
    if kind_of(job) == "push":
        item.setdefault("version", job.kwargs.get("version"))
    return item


def last_line(text: str | None) -> str | None:
    """The exception itself, without the traceback above it, nor credentials or paths."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return for_answer(lines[-1]) if lines else None
