"""Pushes on a real Redis and a real worker: queued after an activation and a task import,
one waiting and one running per project, shown in GET /jobs; Label Studio away makes a push
retry and then fail with the reason, while /predict keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job, JobStatus

from backend.settings import Settings
from backend.tools.payloads import predict_body, setup_body, task
from backend.training.push.queue import PushQueue
from backend.training.queue import PUSH_QUEUE, fetch_job
from backend.training.run import run_training
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.test_training_loop import annotate, finished_job, webhook
from tests.texts import synthetic_reviews

PROJECT = 7


@pytest.fixture
def api_env(env: dict[str, str]) -> dict[str, str]:
    """API mode against a Label Studio that is not there: nothing here reaches it but the
    push that must fail."""
    return {
        **env,
        "LABEL_STUDIO_URL": "http://127.0.0.1:1",
        "LABEL_STUDIO_API_KEY": "secret-key-123",
        "PUSH_RETRY_FOR": "4",
    }


@pytest.fixture
def served(env: dict[str, str], redis: Redis) -> str:
    """A version trained from webhooks, serving for PROJECT."""
    client = create_app(Settings.from_env(env)).test_client()
    annotate(client, PROJECT, synthetic_reviews(12, seed=4))
    result = run_training(Settings.from_env(env), redis, PROJECT)
    return str(result["version"])


def stored_job(redis: Redis, job_id: str | bytes) -> Job:
    job = fetch_job(redis, job_id)
    assert job is not None, job_id
    return job


def test_a_push_waits_joins_or_gives_way_to_a_newer_version(redis: Redis) -> None:
    queue = PushQueue(redis, 600)
    first = queue.request(PROJECT, "v1-20261201T000000", "v1 published")
    again = queue.request(PROJECT, "v1-20261201T000000", "tasks imported")
    assert not first.coalesced and again.coalesced and again.job_id == first.job_id
    newer = queue.request(PROJECT, "v2-20261201T000100", "v2 activated")
    assert stored_job(redis, first.job_id).get_status() == JobStatus.CANCELED
    # the newer push starts; a request meanwhile queues one more, deferred behind it
    stored_job(redis, newer.job_id).set_status(JobStatus.STARTED)
    behind = queue.request(PROJECT, "v2-20261201T000100", "tasks imported")
    job = stored_job(redis, behind.job_id)
    assert job.get_status() == JobStatus.DEFERRED and job.dependency_ids == [newer.job_id]
    assert job.origin == PUSH_QUEUE and job.kwargs["version"] == "v2-20261201T000100"
    # a third version replaces the waiting push, and still waits for the running one
    third = queue.request(PROJECT, "v3-20261201T000200", "v3 published")
    assert stored_job(redis, behind.job_id).get_status() == JobStatus.CANCELED
    assert stored_job(redis, third.job_id).dependency_ids == [newer.job_id]


def test_activations_and_imports_queue_pushes_listed_in_jobs(
    api_env: dict[str, str], served: str, redis: Redis
) -> None:
    client = create_app(Settings.from_env(api_env)).test_client()
    activated = client.post(f"/versions/{served}/activate?project={PROJECT}").json
    imported = webhook(client, {"action": "TASKS_CREATED", "project": {"id": PROJECT}})
    assert imported == {
        "action": "TASKS_CREATED",
        "project": PROJECT,
        "status": "push",
        "push_job_id": activated["push_job_id"],  # joined the push still waiting
    }
    listed = client.get(f"/jobs?project={PROJECT}&kind=push").json
    assert [(j["id"], j["kind"], j["version"], j["status"]) for j in listed["jobs"]] == [
        (activated["push_job_id"], "push", served, "queued")
    ]
    training = client.get("/jobs?kind=training").json["jobs"]  # queued by the annotations
    assert training and {j["kind"] for j in training} == {"training"}
    assert client.get("/jobs?kind=nope").json["error"] == "bad_request"
    assert client.get(f"/jobs/{activated['push_job_id']}").json["kind"] == "push"
    # no version of project 8, and webhook mode: nothing to push
    assert webhook(client, {"action": "TASKS_CREATED", "project": {"id": 8}})["status"] == (
        "ignored"
    )
    without_api = {**api_env, "LABEL_STUDIO_URL": "", "LABEL_STUDIO_API_KEY": ""}
    webhook_mode = create_app(Settings.from_env(without_api)).test_client()
    assert webhook(webhook_mode, {"action": "TASKS_CREATED", "project": {"id": PROJECT}}) == {
        "status": "ignored",
        "action": "TASKS_CREATED",
    }
    answer = webhook_mode.post(f"/versions/{served}/activate?project={PROJECT}").json
    assert answer["push_job_id"] is None


def test_label_studio_away_fails_the_push_with_the_reason_while_predict_answers(
    api_env: dict[str, str], served: str, redis: Redis, tmp_path: Path
) -> None:
    client = create_app(Settings.from_env(api_env)).test_client()
    push_id = client.post(f"/versions/{served}/activate?project={PROJECT}").json["push_job_id"]
    worker = WorkerProcess(api_env, tmp_path / "worker.log")
    try:
        tasks = [task("the story was quite superb")]
        answer = client.post("/predict", json=predict_body(PROJECT, tasks, SENTIMENT_CONFIG))
        assert answer.json["results"][0]["model_version"] == served
        job = finished_job(redis, push_id, worker)
        assert job.get_status() == JobStatus.FAILED
        error = client.get(f"/jobs/{push_id}").json["error"]
        assert "Label Studio is unreachable at http://127.0.0.1:1" in error
        assert "s of retries: reading project 7" in error
        assert "secret-key-123" not in worker.output()
        assert "retrying in 1 s" in worker.output() and "retrying in 2 s" in worker.output()
        assert worker.process.poll() is None
    finally:
        worker.stop()


def test_setup_asks_for_a_push_of_a_version_not_pushed_yet(
    api_env: dict[str, str], served: str, redis: Redis
) -> None:
    """A project connected after its versions were trained gets their predictions: /setup
    queues the push (off the request), once."""
    app = create_app(Settings.from_env(api_env))
    client = app.test_client()
    body = setup_body(PROJECT, SENTIMENT_CONFIG)
    assert client.post("/setup", json=body).json["model_version"] == served

    def push_ids() -> list[str]:
        return [j["id"] for j in client.get(f"/jobs?project={PROJECT}&kind=push").json["jobs"]]

    queued = wait_for(push_ids, 10)
    job = stored_job(redis, queued[0])
    assert job.kwargs["version"] == served and "(/setup)" in job.kwargs["reason"]
    client.post("/setup", json=body)
    app.extensions["lsbert"].background.submit(lambda: None).result()  # the check ran
    assert push_ids() == queued
