"""A worker killed in the middle of a run: the served version stays, the run is reported
failed, and the next run publishes about a minute later rather than after the job timeout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import PickleSerializer

from backend.metrics import Metrics
from backend.redis_store import TRAINING_LOCK, project_key
from backend.settings import Settings
from backend.store import STAGING_PREFIX, VERSION_FILE, ModelStore
from backend.tools.payloads import predict_body, task
from backend.training import jobs
from backend.training.queue import (
    ABANDONED,
    JOB_FUNCTION,
    QUEUE_NAME,
    SERIALIZER,
    TRAINING_LOCK_TTL,
    TrainingQueue,
    TrainingRequest,
    fail_abandoned_jobs,
    training_queue,
)
from backend.training.upgrade import migrate_legacy_jobs
from backend.training.worker import run_worker
from backend.web.app import create_app
from model.loading import load_model
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.test_training_loop import annotate, finished_job, webhook
from tests.texts import synthetic_reviews

PROJECT = 5
START = {"action": "START_TRAINING", "project": {"id": PROJECT}}
# how long a run takes comes from the worker's settings only: this one trains for hours
SLOW = {"TRAIN_EPOCHS": "100000", "TRAIN_WARM_EPOCHS": "100000", "TRAIN_MAX_STEPS": "10000000"}
# well under the hour the training lock and RQ's heartbeat used to last
RECOVERY_BOUND = 180.0


@pytest.fixture
def open_gate_env(env: dict[str, str]) -> dict[str, str]:
    """Every finished run publishes, whatever its held-out score against the champion;
    on the CPU wherever the test runs, since timing, not the device, is the subject here."""
    return {**env, "GATE_TOLERANCE": "1", "DEVICE": "cpu"}


@pytest.fixture
def slow_env(open_gate_env: dict[str, str]) -> dict[str, str]:
    return {**open_gate_env, **SLOW}


def training(redis: Redis, job_id: str) -> dict | None:
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER).get_meta().get("progress")


def failed_job(redis: Redis, job_id: str) -> Job | None:
    job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
    return job if job.get_status() == JobStatus.FAILED else None


def assert_only_whole_versions(store: ModelStore, project: int, names: list[str]) -> None:
    """Every folder in versions/ is a named version, or staging that holds no record."""
    assert store.versions(project) == names
    for folder in store.versions_dir(project).iterdir():
        assert folder.name in names or (
            folder.name.startswith(STAGING_PREFIX) and not (folder / VERSION_FILE).exists()
        ), f"{folder.name} is a complete version nobody named"


def assert_loads(store: ModelStore, project: int, version: str) -> None:
    folder = store.version_dir(project, version)
    for entry in store.read_version(project, version).controls:
        load_model(entry.kind, folder / entry.folder, "cpu")


def served_version(client) -> str:  # type: ignore[no-untyped-def]
    tasks = [task("the story was quite superb")]
    body = predict_body(PROJECT, tasks, SENTIMENT_CONFIG)
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.json
    return response.json["results"][0]["model_version"]


def test_a_worker_killed_mid_training_leaves_the_version_and_the_next_run_publishes(  # type: ignore[no-untyped-def]
    open_gate_env: dict[str, str], slow_env: dict[str, str], tmp_path: Path, redis: Redis
) -> None:
    settings = Settings.from_env(open_gate_env)
    client = create_app(settings).test_client()
    store = ModelStore(settings.model_dir)
    annotate(client, PROJECT, synthetic_reviews(40, seed=7))
    first_worker = WorkerProcess(open_gate_env, tmp_path / "first-worker.log")
    try:
        job_id = webhook(client, START)["job_id"]
        first = finished_job(redis, job_id, first_worker).return_value()
    finally:
        first_worker.stop()
    assert first is not None and first["outcome"] == "published", first_worker.output()[-3000:]
    served = first["version"]

    slow_worker = WorkerProcess(slow_env, tmp_path / "slow-worker.log")
    try:
        killed_id = webhook(client, START)["job_id"]
        wait_for(lambda: training(redis, killed_id), 120, message=slow_worker.output()[-3000:])
        slow_worker.process.kill()  # SIGKILL: no handler, no finally, no RQ bookkeeping
        slow_worker.process.wait()
        killed_at = time.monotonic()
    finally:
        slow_worker.stop()

    # the lock expires within a minute rather than with the job timeout
    lock_ttl = redis.pttl(project_key(PROJECT, TRAINING_LOCK))
    assert 0 < lock_ttl <= TRAINING_LOCK_TTL * 1000
    # RQ cannot tell yet: the killed job is STARTED, the served version untouched
    assert (
        Job.fetch(killed_id, connection=redis, serializer=SERIALIZER).get_status()
        == JobStatus.STARTED
    )
    assert store.current_version(PROJECT) == served
    assert_only_whole_versions(store, PROJECT, [served])
    assert any(store.versions_dir(PROJECT).glob(f"{STAGING_PREFIX}*")), "killed before staging"
    assert_loads(store, PROJECT, served)
    assert served_version(client) == served

    recovery = WorkerProcess(open_gate_env, tmp_path / "recovery-worker.log")
    try:
        # the dead worker's key has not expired yet: the request waits behind its job
        answer = webhook(client, START)
        assert answer["status"] == "queued"
        next_id = answer["job_id"]
        assert (
            Job.fetch(next_id, connection=redis, serializer=SERIALIZER).get_status()
            == JobStatus.DEFERRED
        )

        killed = wait_for(
            lambda: failed_job(redis, killed_id),
            RECOVERY_BOUND,
            message=f"the killed job was never failed:\n{recovery.output()[-3000:]}",
        )
        reported_at = time.monotonic()
        reason = killed.latest_result().exc_string
        assert reason == ABANDONED
        assert "the worker running it stopped (killed or crashed)" in reason
        assert killed_id in FailedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
        done = finished_job(redis, next_id, recovery, timeout=RECOVERY_BOUND)
        recovered_in = time.monotonic() - killed_at
    finally:
        recovery.stop()
    result = done.return_value()
    assert result is not None and result["outcome"] == "published", recovery.output()[-3000:]
    print(
        f"\nSIGKILL -> killed job failed: {reported_at - killed_at:.1f} s, "
        f"-> next version published: {recovered_in:.1f} s"
    )
    assert recovered_in < RECOVERY_BOUND

    latest = result["version"]
    assert latest != served and store.current_version(PROJECT) == latest
    assert_only_whole_versions(store, PROJECT, [served, latest])
    assert not any(store.versions_dir(PROJECT).glob(f"{STAGING_PREFIX}*"))
    assert_loads(store, PROJECT, latest)
    assert served_version(client) == latest
    metrics = Metrics(redis).snapshot()
    assert metrics['lsbert_training_jobs_total{outcome="abandoned"}'] == 1


class FakeWorker:
    """An RQ worker that takes the next job and stays on it, as a process killed mid-run."""

    def __init__(self, redis: Redis) -> None:
        queue = training_queue(redis)
        self.worker = SimpleWorker([queue], connection=redis, serializer=SERIALIZER)
        self.worker.register_birth()
        taken = Queue.dequeue_any([queue], None, connection=redis, serializer=SERIALIZER)
        assert taken is not None
        self.job = taken[0]
        self.worker.prepare_execution(self.job)
        self.worker.prepare_job_execution(self.job, remove_from_intermediate_queue=True)
        self.redis = redis

    def die(self) -> None:
        self.redis.delete(self.worker.key)  # its heartbeat key expired


def status(redis: Redis, job_id: str) -> JobStatus:
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER).get_status()


def test_a_request_releases_the_job_deferred_on_a_dead_workers_job(redis: Redis) -> None:
    queue = TrainingQueue(redis, 3600)
    first = queue.request(6, "first")
    running = FakeWorker(redis)
    assert running.job.id == first.job_id
    behind = queue.request(6, "while it runs")
    # a live worker's job is left alone
    assert status(redis, behind.job_id) == JobStatus.DEFERRED
    assert status(redis, first.job_id) == JobStatus.STARTED

    running.die()
    again = queue.request(6, "after the kill")
    assert again == TrainingRequest(behind.job_id, coalesced=True)
    assert status(redis, behind.job_id) == JobStatus.QUEUED
    killed = Job.fetch(first.job_id, connection=redis, serializer=SERIALIZER)
    assert killed.get_status() == JobStatus.FAILED
    assert killed.latest_result().exc_string == ABANDONED
    started = StartedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
    assert first.job_id not in started.get_job_ids(cleanup=False)
    assert fail_abandoned_jobs(redis) == []  # reported once


def test_a_request_after_a_dead_workers_job_queues_a_fresh_job(redis: Redis) -> None:
    queue = TrainingQueue(redis, 3600)
    first = queue.request(7, "first")
    FakeWorker(redis).die()
    fresh = queue.request(7, "after the kill")
    assert not fresh.coalesced and fresh.job_id != first.job_id
    job = Job.fetch(fresh.job_id, connection=redis, serializer=SERIALIZER)
    assert job.get_status() == JobStatus.QUEUED and job.fetch_dependencies() == []
    assert status(redis, first.job_id) == JobStatus.FAILED


def test_the_training_lock_is_renewed_while_the_run_lasts_then_left_alone(  # type: ignore[no-untyped-def]
    redis: Redis, monkeypatch
) -> None:
    monkeypatch.setattr(jobs, "LOCK_RENEW_EVERY", 0.2)
    with TrainingQueue(redis, 3600).training_lock(8) as lock, jobs.renewing(lock):
        time.sleep(3.0)  # 3 s off a 60 s lock, were it not renewed
        assert redis.pttl(lock.name) > TRAINING_LOCK_TTL * 1000 - 1500
    assert redis.get(lock.name) is None
    assert not any(t.name == "lsbert-lock-renewer" for t in threading.enumerate())


def test_jobs_an_earlier_release_queued_run_as_todays_after_an_upgrade(
    redis: Redis, settings: Settings
) -> None:
    """Earlier releases stored jobs as pickles, and before the sub-packages the function was
    backend.jobs.train_project: a worker of this release replaces such waiting jobs, without
    deserialising them, and runs them."""
    pickled = Queue(QUEUE_NAME, connection=redis, serializer=PickleSerializer)
    old = pickled.enqueue_call(
        "backend.jobs.train_project",
        args=(4,),
        kwargs={"reason": "start_training: always trains"},
        description="train project 4 (start_training: always trains)",
    )
    # the release before this one: today's function, but a pickle, waiting behind a job
    previous = pickled.enqueue_call(
        JOB_FUNCTION,
        args=(9,),
        kwargs={"reason": "annotation_created: 1 change"},
        description="train project 9 (annotation_created: 1 change)",
        depends_on=old.id,
    )
    assert previous.get_status() == JobStatus.DEFERRED
    ours = TrainingQueue(redis, 60).request(6, "annotation_created: ours")
    assert sorted(migrate_legacy_jobs(redis, TrainingQueue(redis, 60))) == [4, 9]
    assert not redis.exists(old.key) and not redis.exists(previous.key)
    queue = training_queue(redis)
    waiting = [Job.fetch(i, connection=redis, serializer=SERIALIZER) for i in queue.get_job_ids()]
    assert sorted((j.func_name, j.args[0]) for j in waiting) == [
        (JOB_FUNCTION, 4),
        (JOB_FUNCTION, 6),
        (JOB_FUNCTION, 9),
    ]
    assert waiting[0].id == ours.job_id
    reasons = {j.args[0]: j.kwargs["reason"] for j in waiting}
    assert reasons[4] == "start_training: always trains (queued before an upgrade)"
    assert reasons[9] == "annotation_created: 1 change (queued before an upgrade)"
    assert not queue.deferred_job_registry.get_job_ids(cleanup=False)
    assert migrate_legacy_jobs(redis, TrainingQueue(redis, 60)) == []  # once only

    pickled.enqueue_call("backend.jobs.train_project", args=(4,), description="train project 4 (x)")
    pickled.enqueue_call(JOB_FUNCTION, args=(5,), description="train project 5 (y)")
    run_worker(settings, burst=True)  # migrates at start, then runs today's jobs
    failed = FailedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
    ended = [Job.fetch(i, connection=redis, serializer=SERIALIZER) for i in failed.get_job_ids()]
    assert {j.func_name for j in ended} == {JOB_FUNCTION}  # no label config known: failed
    # the second request for project 4 joined its waiting job
    assert sorted(j.args[0] for j in ended) == [4, 5, 6, 9]
    assert all("no label config known" in (j.latest_result().exc_string or "") for j in ended)
