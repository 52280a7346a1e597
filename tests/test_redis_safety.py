"""Redis carries data, never code: jobs and results are JSON, nothing read from Redis is
unpickled, and the worker runs only the training function, whatever a writer to Redis
planted. The embedded Redis asks for a password, which no log line shows."""

from __future__ import annotations

import os
import pickle
import time
import zlib
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.serializers import PickleSerializer

from backend.serve.embedded_redis import start_redis
from backend.settings import Settings
from backend.training.queue import JOB_FUNCTION, QUEUE_NAME, SERIALIZER, TrainingQueue
from backend.training.upgrade import migrate_legacy_jobs
from backend.training.worker import run_worker
from backend.web.app import create_app
from tests.conftest import Serve, wait_for


class RunsOnLoad:
    """Unpickled, this runs a shell command: what a writer to Redis could plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def plant_pickled_job(redis: Redis, marker: Path, description: str) -> Job:
    """A training job as pickle-serializing RQ writes it, whose data, meta and result
    each run a command when unpickled."""
    queue = Queue(QUEUE_NAME, connection=redis, serializer=PickleSerializer)
    job = queue.enqueue_call(
        JOB_FUNCTION, args=(RunsOnLoad(marker),), description=description, result_ttl=600
    )
    job.meta["progress"] = RunsOnLoad(marker)
    job.save_meta()
    redis.hset(job.key, "result", pickle.dumps(RunsOnLoad(marker)))
    Result.create(job, Result.Type.SUCCESSFUL, ttl=600, return_value=RunsOnLoad(marker))
    return job


def plant_everywhere(redis: Redis, marker: Path) -> list[Job]:
    """Pickled jobs waiting in the queue, and listed in the started, finished and failed
    registries, as the web lists them."""
    waiting = plant_pickled_job(redis, marker, "train project 4 (planted)")
    unreadable = plant_pickled_job(redis, marker, "anything else")
    ended = [plant_pickled_job(redis, marker, f"train project 4 ({n})") for n in range(3)]
    registries = (StartedJobRegistry, FinishedJobRegistry, FailedJobRegistry)
    statuses = (JobStatus.STARTED, JobStatus.FINISHED, JobStatus.FAILED)
    for job, registry, status in zip(ended, registries, statuses, strict=True):
        redis.lrem(f"rq:queue:{QUEUE_NAME}", 0, job.id)
        redis.hset(job.key, "status", status.value)
        key = registry(QUEUE_NAME, connection=redis).key
        # the started registry lists executions, "<job id>:<execution id>"
        member = f"{job.id}:planted" if status == JobStatus.STARTED else job.id
        redis.zadd(key, {member: time.time() + 600})
    return [waiting, unreadable, *ended]


def test_planted_pickles_are_never_run_by_the_web_or_the_worker(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(RunsOnLoad(marker)))  # the payload works: it ran
    assert marker.exists()
    marker.unlink()
    planted = plant_everywhere(redis, marker)
    ours = TrainingQueue(redis, 60).request(3, "ours")
    client = create_app(settings).test_client()

    listed = client.get("/jobs")
    assert listed.status_code == 200, listed.json
    assert [job["id"] for job in listed.json["jobs"]] == [ours.job_id]
    for job in planted:
        answer = client.get(f"/jobs/{job.id}")
        assert answer.status_code == 404 and answer.json["error"] == "job_not_found"
    assert not marker.exists(), "the web ran a planted pickle"

    run_worker(settings, burst=True)
    assert not marker.exists(), "the worker ran a planted pickle"
    failed = FailedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
    planted_ids = {job.id for job in planted}
    ended = [
        Job.fetch(i, connection=redis, serializer=SERIALIZER)
        for i in failed.get_job_ids()
        if i not in planted_ids  # the planted failed job: an unreadable record, left alone
    ]
    # ours and the planted waiting job carried over by its description; both fail only
    # because no label config was ever sent for either project
    assert sorted(j.args[0] for j in ended) == [3, 4]
    assert {j.func_name for j in ended} == {JOB_FUNCTION}
    assert all("no label config known" in (j.latest_result().exc_string or "") for j in ended)
    assert not redis.exists(planted[0].key) and not redis.exists(planted[1].key)
    assert client.get("/jobs").status_code == 200
    assert not marker.exists()


def test_the_worker_runs_only_the_training_function(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    """JSON data cannot run code on load, but it names a function: a planted JSON job
    naming os.system must fail, not run."""
    marker = tmp_path / "ran"
    queue = Queue(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
    job = queue.enqueue_call("os.system", args=(f"touch {marker}",))
    run_worker(settings, burst=True)
    assert not marker.exists()
    job = Job.fetch(job.id, connection=redis, serializer=SERIALIZER)
    assert job.get_status() == JobStatus.FAILED
    assert "only runs backend.training.jobs.train_project" in job.latest_result().exc_string


def test_jobs_are_stored_as_json(redis: Redis) -> None:
    request = TrainingQueue(redis, 60).request(8, "a reason")
    data = zlib.decompress(redis.hget(Job.key_for(request.job_id), "data"))
    assert data.startswith(b"[") and b'"backend.training.jobs.train_project"' in data
    assert migrate_legacy_jobs(redis, TrainingQueue(redis, 60)) == []  # today's: left alone


def test_the_embedded_redis_asks_for_a_password(tmp_path: Path) -> None:
    process, url = start_redis(tmp_path / "redis")
    try:
        assert url.startswith("redis://:") and "@127.0.0.1:" in url
        password = url.split("//:", 1)[1].split("@", 1)[0]
        assert len(password) >= 32
        anonymous = Redis.from_url(url.replace(f":{password}@", ""))
        with pytest.raises((AuthenticationError, ResponseError), match=r"(?i)auth"):
            anonymous.set("x", 1)
        assert Redis.from_url(url).ping()
        bind = Redis.from_url(url).config_get("bind")["bind"]
        assert bind.split() == ["127.0.0.1"], bind
    finally:
        process.terminate()
        process.wait(10)


def test_serve_gives_its_children_the_password_and_logs_none(
    env: dict[str, str], tmp_path: Path
) -> None:
    embedded = {k: v for k, v in env.items() if k != "REDIS_URL"}
    embedded["EMBEDDED_REDIS_DIR"] = str(tmp_path / "redis")
    server = Serve(embedded, tmp_path / "serve.log")
    try:
        worker = next(p for p in server.children if "worker" in p.cmdline())
        url = worker.environ()["REDIS_URL"]
        password = url.split("//:", 1)[1].split("@", 1)[0]
        assert len(password) >= 32 and Redis.from_url(url).ping()
        redis_server = next(p for p in server.children if "redis" in p.name())
        assert password not in " ".join(redis_server.cmdline())  # `ps` shows every command
        wait_for(lambda: "embedded Redis at" in server.log.read_text(), 30)
        log = server.log.read_text()
        assert "embedded Redis at redis://***@127.0.0.1:" in log
        assert password not in log
    finally:
        server.stop()
    assert password not in server.log.read_text()


RQ_READERS = {
    "Queue",
    "SimpleWorker",
    "TrainingWorker",
    "Worker",
    *(f"{kind}JobRegistry" for kind in ("Started", "Finished", "Failed", "Deferred")),
    *(f"{kind}JobRegistry" for kind in ("Scheduled", "Canceled", "Ready")),
}
RQ_METHODS = {("Job", "fetch"), ("Job", "fetch_many"), ("BackendJob", "fetch")}
RQ_METHODS |= {("BackendJob", "fetch_many"), ("Result", "restore"), ("Queue", "dequeue_any")}


def test_every_rq_object_the_backend_builds_reads_json() -> None:
    """RQ's default is pickle: a Queue, registry, worker or fetch without the serializer
    would unpickle what it reads. Every one in backend/ names it."""
    import ast

    from tests.conftest import REPO

    missing = []
    for path in sorted((REPO / "backend").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            name = function.id if isinstance(function, ast.Name) else None
            method = (
                (function.value.id, function.attr)
                if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
                else None
            )
            named = "serializer" in {k.arg for k in node.keywords}
            if (name in RQ_READERS or method in RQ_METHODS) and not named:
                missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not missing, f"RQ objects without serializer=SERIALIZER: {missing}"
