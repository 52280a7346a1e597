"""GET /jobs and /jobs/<id>: training jobs read from a real Redis, run by a real worker."""

from __future__ import annotations

import re
import time

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, task
from backend.training.jobs import ProgressRecorder
from backend.training.queue import (
    JOB_FUNCTION,
    QUEUE_NAME,
    SERIALIZER,
    TrainingQueue,
    training_queue,
)
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.test_training_loop import annotate, finished_job, webhook
from tests.texts import synthetic_reviews

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_JOBS = {"queued": 0, "deferred": 0, "running": 0, "finished": 0, "failed": 0, "canceled": 0}


@pytest.fixture
def jobs_client(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings).test_client()


def get_jobs(client, query: str = "") -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/jobs" + query)
    assert response.status_code == 200, response.json
    return response.json


def get_job(client, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.json
    return response.json


def test_waiting_jobs_are_listed_newest_first_and_by_project(  # type: ignore[no-untyped-def]
    jobs_client, redis: Redis
) -> None:
    # no worker runs: every job waits
    training = TrainingQueue(redis, 600)
    first = training.request(5, "annotation created").job_id
    time.sleep(0.01)  # distinct creation times, for the order
    second = training.request(6, "START_TRAINING").job_id
    assert training.request(5, "annotation updated").job_id == first  # joined the waiting job
    queue = training_queue(redis)
    # waiting for another job, as TrainingQueue queues a job behind the project's running one
    behind = queue.enqueue_call(
        JOB_FUNCTION, args=(5,), kwargs={"reason": "behind"}, depends_on=first
    ).id
    # on the queue but not training, and training but on another queue: neither is listed
    stranger = queue.enqueue_call("os.getcwd").id
    elsewhere = (
        Queue("default", connection=redis, serializer=SERIALIZER)
        .enqueue_call(JOB_FUNCTION, args=(5,))
        .id
    )
    # ids whose job data expired: none in Redis, or a hash with a status but no job data
    finished = FinishedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
    redis.zadd(finished.key, {"expired": time.time() + 60, "stub": time.time() + 60})
    redis.hset(Job.key_for("stub"), "status", "finished")
    redis.rpush(queue.key, "expired", "stub")

    listed = get_jobs(jobs_client)
    assert [job["id"] for job in listed["jobs"]] == [behind, second, first]
    assert listed["counts"] == {**NO_JOBS, "queued": 2, "deferred": 1}
    newest, middle, oldest = listed["jobs"]
    assert (newest["status"], newest["project"], newest["reason"]) == ("deferred", 5, "behind")
    assert (middle["status"], middle["project"], middle["reason"]) == (
        "queued",
        6,
        "START_TRAINING",
    )
    assert oldest == {
        "id": first,
        "kind": "training",
        "project": 5,
        "reason": "annotation created",
        "status": "queued",
        "enqueued_at": oldest["enqueued_at"],
        "started_at": None,
        "ended_at": None,
        "progress": None,
    }
    assert ISO_UTC.match(oldest["enqueued_at"])
    assert get_job(jobs_client, first) == oldest

    by_project = get_jobs(jobs_client, "?project=5")
    assert [job["id"] for job in by_project["jobs"]] == [behind, first]
    assert by_project["counts"] == {**NO_JOBS, "queued": 1, "deferred": 1}
    # Label Studio's "5.1700000000" form of a project id is read as project 5
    assert get_jobs(jobs_client, "?project=5.1763800000") == by_project
    assert get_jobs(jobs_client, "?project=7") == {"jobs": [], "counts": NO_JOBS}

    # the limit cuts the list, not the counts
    limited = get_jobs(jobs_client, "?limit=1")
    assert [job["id"] for job in limited["jobs"]] == [behind]
    assert limited["counts"] == listed["counts"]

    for job_id in (stranger, elsewhere, "expired", "stub"):
        response = jobs_client.get(f"/jobs/{job_id}")
        assert response.status_code == 404, job_id
        assert response.json["error"] == "job_not_found"
    # RQ reads "a:b" as job "a" (an execution's key): not a job id at all
    response = jobs_client.get(f"/jobs/{first}:execution")
    assert response.status_code == 400 and "job id" in response.json["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?project=abc", "project 'abc'"),
        ("?project=0", "project '0'"),
        ("?project=", "project ''"),
        ("?limit=0", "limit '0'"),
        ("?limit=501", "limit '501'"),
        ("?limit=ten", "limit 'ten'"),
        ("?project=3&limit=-1", "limit '-1'"),
    ],
)
def test_a_bad_project_or_limit_is_a_400_that_names_it(  # type: ignore[no-untyped-def]
    jobs_client, query: str, named: str
) -> None:
    response = jobs_client.get("/jobs" + query)
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"
    assert named in response.json["message"]
    assert response.json["fix"]


def test_an_unknown_job_is_a_404_that_says_how_to_find_jobs(jobs_client) -> None:  # type: ignore[no-untyped-def]
    response = jobs_client.get("/jobs/no-such-job")
    assert response.status_code == 404
    assert response.json["error"] == "job_not_found"
    assert "'no-such-job'" in response.json["message"]
    assert "GET /jobs" in response.json["fix"]


def test_failed_and_skipped_jobs_say_why_in_one_line(  # type: ignore[no-untyped-def]
    jobs_client, redis: Redis, worker: WorkerProcess
) -> None:
    # no label config was ever sent for project 9: the job raises
    failing = TrainingQueue(redis, 600).request(9, "test").job_id
    # a label the config does not have: nothing to learn, the job ends "skipped"
    body = annotation_webhook(2, task("some text"), ["Maybe"], label_config=SENTIMENT_CONFIG)
    webhook(jobs_client, body)
    skipping = webhook(jobs_client, {"action": "START_TRAINING", "project": {"id": 2}})["job_id"]
    failed = finished_job(redis, failing, worker)
    finished_job(redis, skipping, worker)

    item = get_job(jobs_client, failing)
    assert item["status"] == "failed"
    assert item["error"].startswith("backend.errors.LabelStudioError: no label config known")
    assert "\n" not in item["error"] and "Traceback" not in item["error"]
    assert "Traceback" in failed.latest_result().exc_string  # the whole traceback stays in RQ
    assert "result" not in item and "outcome" not in item
    assert ISO_UTC.match(item["started_at"]) and ISO_UTC.match(item["ended_at"])

    item = get_job(jobs_client, skipping)
    assert (item["status"], item["outcome"], item["version"]) == ("finished", "skipped", None)
    assert "1 label not in the label config" in item["detail"]
    assert item["result"] == {"outcome": "skipped", "reason": item["detail"]}

    listed = get_jobs(jobs_client)
    statuses = {job["id"]: job["status"] for job in listed["jobs"]}
    assert (statuses[failing], statuses[skipping]) == ("failed", "finished")
    # whether the annotation itself queued a job depends on the training policy: count ends
    assert listed["counts"] == {
        **NO_JOBS,
        "finished": len(statuses) - 1,
        "failed": 1,
    }
    assert [job["id"] for job in get_jobs(jobs_client, "?project=9")["jobs"]] == [failing]


def test_a_training_job_shows_its_progress_while_it_runs_then_its_version(  # type: ignore[no-untyped-def]
    env: dict[str, str], tmp_path, redis: Redis
) -> None:
    # long enough a run for the test to see it running, with progress saved every 2 s
    slow_env = {**env, "TRAIN_EPOCHS": "400", "TRAIN_MAX_STEPS": "400"}
    client = create_app(Settings.from_env(slow_env)).test_client()
    annotate(client, 1, synthetic_reviews(30, seed=7))  # before the worker: one job
    job_id = webhook(client, {"action": "START_TRAINING", "project": {"id": 1}})["job_id"]
    assert get_job(client, job_id)["status"] == "queued"
    worker = WorkerProcess(slow_env, tmp_path / "slow-worker.log")
    try:

        def running_with_progress() -> dict | None:
            item = get_job(client, job_id)
            return item if item["status"] == "running" and item["progress"] else None

        running = wait_for(running_with_progress, 120, message=worker.output()[-3000:])
        assert ISO_UTC.match(running["started_at"]) and running["ended_at"] is None
        progress = running["progress"]
        assert progress["control"] == "sentiment"
        assert 1 <= progress["step"] <= progress["total_steps"]
        assert isinstance(progress["loss"], float)
        assert get_jobs(client)["counts"] == {**NO_JOBS, "running": 1}
        done = finished_job(redis, job_id, worker)
    finally:
        worker.stop()

    returned = done.return_value()
    assert returned["outcome"] == "published"
    item = get_job(client, job_id)
    assert (item["status"], item["outcome"], item["version"]) == (
        "finished",
        "published",
        returned["version"],
    )
    assert item["result"] == returned
    assert item["progress"]["step"] >= progress["step"]  # the last progress recorded stays
    assert ISO_UTC.match(item["ended_at"])
    listed = get_jobs(client, "?project=1")
    assert listed["counts"] == {**NO_JOBS, "finished": 1}
    assert listed["jobs"] == [{key: value for key, value in item.items() if key != "result"}]


class FakeJob:
    def __init__(self) -> None:
        self.id, self.meta, self.saves = "job", {}, 0

    def save_meta(self) -> None:
        self.saves += 1


def test_progress_carries_the_pace_and_what_is_left_of_the_stage() -> None:
    now = [100.0]
    job = FakeJob()
    record = ProgressRecorder(job, clock=lambda: now[0])
    details = {"control": "sentiment", "stage": "pairs", "epoch": 1, "total_steps": 400}
    record("training", {**details, "step": 1})
    first = job.meta["progress"]
    assert (first["step"], first["steps_per_second"], first["eta_seconds"]) == (1, None, None)
    now[0] += 1.0
    record("training", {**details, "step": 50})  # under 2 s since the last save: not saved
    now[0] += 1.5
    record("training", {**details, "step": 101})
    progress = job.meta["progress"]
    assert progress["steps_per_second"] == 40.0  # 100 steps in 2.5 s
    assert progress["eta_seconds"] == 7  # 299 steps left at that pace
    assert progress["stage_started_at"] == first["stage_started_at"]
    assert job.saves == 2
    now[0] += 3
    record("training", {**details, "stage": "fine-tuning", "step": 1})  # a new stage
    assert job.meta["progress"]["steps_per_second"] is None
