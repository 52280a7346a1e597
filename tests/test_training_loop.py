"""The learning loop through a real RQ worker process and a real Redis."""

from __future__ import annotations

from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, predict_body, setup_body, task
from backend.training.queue import QUEUE_NAME, SERIALIZER, training_queue
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.texts import synthetic_reviews


def webhook(client, body: dict) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/webhook", json=body)
    assert response.status_code == 200, response.json
    return response.json


def annotate(client, project: int, rows) -> None:  # type: ignore[no-untyped-def]
    for text, label in rows:
        webhook(
            client, annotation_webhook(project, task(text), [label], label_config=SENTIMENT_CONFIG)
        )


def finished_job(redis: Redis, job_id: str, worker: WorkerProcess, timeout: float = 120) -> Job:
    def ended() -> Job | None:
        job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
        return job if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED) else None

    return wait_for(ended, timeout, message=f"job {job_id} never ended:\n{worker.output()[-3000:]}")


def version_of(client, project: int) -> str:  # type: ignore[no-untyped-def]
    return client.post("/setup", json=setup_body(project, SENTIMENT_CONFIG)).json["model_version"]


def test_annotations_train_a_new_version_that_every_web_process_serves(  # type: ignore[no-untyped-def]
    client, settings: Settings, redis: Redis, worker: WorkerProcess
) -> None:
    other_web_process = create_app(settings).test_client()
    annotate(client, 1, synthetic_reviews(40, seed=7))
    job_id = webhook(client, {"action": "START_TRAINING", "project": {"id": 1}})["job_id"]
    job = finished_job(redis, job_id, worker)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string
    first = job.return_value()
    assert first["outcome"] == "published"
    assert first["controls"]["sentiment"]["annotated"] == 40
    assert version_of(client, 1) == version_of(other_web_process, 1) == first["version"]

    # words the tiny model has seen: an unknown word dilutes its mean-pooled embedding, and
    # "the actors were horrible" scored 0.25-0.50 Positive over training seeds, a coin flip
    tasks = [task("the story was quite superb"), task("the plot was really dreadful")]
    items = client.post("/predict", json=predict_body(1, tasks, SENTIMENT_CONFIG)).json["results"]
    assert [i["result"][0]["value"]["choices"] for i in items] == [["Positive"], ["Negative"]]
    assert {i["model_version"] for i in items} == {first["version"]}

    # corrections enqueue training themselves; START_TRAINING joins the waiting job or
    # queues one after the running one, so its job sees every annotation
    annotate(client, 1, synthetic_reviews(4, seed=8))
    job_id = webhook(client, {"action": "START_TRAINING", "project": {"id": 1}})["job_id"]
    second = finished_job(redis, job_id, worker).return_value()
    assert second["controls"]["sentiment"]["annotated"] == 44
    assert second["version"] != first["version"]
    assert version_of(other_web_process, 1) == second["version"]
    items = other_web_process.post("/predict", json=predict_body(1, tasks, SENTIMENT_CONFIG)).json
    assert items["model_version"] == second["version"]


def test_nothing_to_learn_is_a_skipped_job_with_the_reason(  # type: ignore[no-untyped-def]
    client, redis: Redis, worker: WorkerProcess
) -> None:
    body = annotation_webhook(2, task("some text"), ["Maybe"], label_config=SENTIMENT_CONFIG)
    job_id = webhook(client, body)["job_id"]
    result = finished_job(redis, job_id, worker).return_value()
    assert result["outcome"] == "skipped"
    assert "1 label not in the label config" in result["reason"]
    assert version_of(client, 2) == "untrained"


def test_label_studio_unreachable_fails_the_job_with_a_readable_reason(  # type: ignore[no-untyped-def]
    env: dict[str, str], tmp_path, redis: Redis
) -> None:
    api_env = {
        **env,
        "LABEL_STUDIO_URL": "http://127.0.0.1:1",
        "LABEL_STUDIO_API_KEY": "secret-key-123",
    }
    client = create_app(Settings.from_env(api_env)).test_client()
    worker = WorkerProcess(api_env, tmp_path / "api-worker.log")
    try:
        job_id = webhook(client, {"action": "START_TRAINING", "project": {"id": 3}})["job_id"]
        job = finished_job(redis, job_id, worker)
        assert job.get_status() == JobStatus.FAILED
        reason = job.latest_result().exc_string
        assert "Label Studio is unreachable at http://127.0.0.1:1" in reason
        assert "secret-key-123" not in reason and "secret-key-123" not in worker.output()
        # the worker survives a failed job
        assert worker.process.poll() is None
    finally:
        worker.stop()


def test_a_burst_during_training_gives_one_running_one_pending_and_loses_nothing(  # type: ignore[no-untyped-def]
    env: dict[str, str], tmp_path, redis: Redis
) -> None:
    # 1500 steps of the tiny model: long enough for a burst of webhooks to meet it running
    slow_env = {**env, "TRAIN_EPOCHS": "1500", "TRAIN_MAX_STEPS": "1500"}
    client = create_app(Settings.from_env(slow_env)).test_client()
    annotate(client, 4, synthetic_reviews(30, seed=9))
    first = webhook(client, {"action": "START_TRAINING", "project": {"id": 4}})["job_id"]
    assert training_queue(redis).job_ids == [first]  # 31 events, one job
    worker = WorkerProcess(slow_env, tmp_path / "slow-worker.log")
    try:
        started = StartedJobRegistry(QUEUE_NAME, connection=redis, serializer=SERIALIZER)
        wait_for(lambda: first in started.get_job_ids(), 60, message=worker.output())
        late = synthetic_reviews(100, seed=10)
        answers = [
            webhook(
                client, annotation_webhook(4, task(text), [label], label_config=SENTIMENT_CONFIG)
            )
            for text, label in late
        ]
        waiting = {a["job_id"] for a in answers}
        assert len(waiting) == 1 and first not in waiting
        (second,) = waiting
        assert (
            Job.fetch(first, connection=redis, serializer=SERIALIZER).get_status()
            == JobStatus.STARTED
        ), "training ended before the burst did: make it longer"
        # one running, one pending behind it: the pending job waits for the running one
        assert started.get_job_ids() == [first]
        assert (
            Job.fetch(second, connection=redis, serializer=SERIALIZER).get_status()
            == JobStatus.DEFERRED
        )
        # the running job may have read some late annotations; the pending one reads them all
        done = finished_job(redis, first, worker).return_value()
        assert 30 <= done["controls"]["sentiment"]["annotated"] < 130
        final = finished_job(redis, second, worker, timeout=180).return_value()
        assert final["controls"]["sentiment"]["annotated"] == 130
        assert version_of(client, 4) == final["version"]
    finally:
        worker.stop()
