"""Runs under bad luck: a project that lost most of its annotations, records that cannot be
used, Label Studio gone, Redis restarted empty in the middle of a run. None of them serves a
worse model, fails every later run, loses the next run's trigger or stops the worker."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from redis import Redis

from backend.redis_store import (
    WEBHOOK_TASKS,
    AnnotationChanges,
    project_key,
)
from backend.serve.embedded_redis import free_port, start_redis
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import annotation_webhook, setup_body, start_training, task
from backend.training.queue import fetch_job
from backend.training.run import run_training
from backend.training.worker import run_worker
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.test_lifecycle import Annotated, served_version
from tests.test_store_races import in_process_worker_env
from tests.test_training_loop import webhook
from tests.texts import synthetic_reviews

PROJECT = 1  # tests.test_lifecycle's helpers annotate and read project 1


@pytest.fixture
def quiet_env(env: dict[str, str]) -> dict[str, str]:
    """Runs start when the test says so, not on each annotation event."""
    return {**env, "TRAIN_MIN_ANNOTATIONS": "100000", "TRAIN_EVERY_CHANGES": "100000"}


def delete_annotations(client, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    body = {
        "action": "ANNOTATIONS_DELETED",
        "project": {"id": PROJECT},
        "annotations": [{"id": i} for i in ids],
    }
    webhook(client, body)


@pytest.mark.parametrize("how", ["mass delete", "redis emptied"])
def test_a_project_that_lost_most_annotations_cannot_skip_the_gate(
    quiet_env: dict[str, str], redis: Redis, how: str
) -> None:
    """Below HOLDOUT_MIN_ANNOTATIONS no new task is held out; the champion's held-out
    tasks that remain stay held out, and a challenger that lost annotations the champion
    learnt from must show it is at least as good, or be rejected, with the reason."""
    settings = Settings.from_env(quiet_env)
    client = create_app(settings).test_client()
    project = Annotated(client, synthetic_reviews(60, seed=13))
    champion = run_training(settings, redis, PROJECT)
    assert champion["outcome"] == "published", champion
    held_out = champion["controls"]["sentiment"]["held_out"]
    assert held_out >= 4, champion
    if how == "mass delete":
        delete_annotations(client, [project.annotation_id(i) for i in range(52)])
    else:  # webhook mode keeps annotations in Redis only: a Redis lost without its file
        redis.flushall()
        client.post("/setup", json=setup_body(PROJECT, SENTIMENT_CONFIG))
        Annotated(client, synthetic_reviews(8, seed=14), first_id=5000)

    after = run_training(settings, redis, PROJECT)
    assert after["controls"]["sentiment"]["annotated"] == 8
    assert after["outcome"] == "rejected", after
    reason = after["reason"]
    assert "annotations it trained on were removed" in reason, reason
    assert "must show it is at least as good" in reason
    assert "POST /versions/<this version>/activate" in reason
    assert after["serving"] == champion["version"]
    assert served_version(client) == champion["version"]
    assert ModelStore(settings.model_dir).current_version(PROJECT) == champion["version"]


def plant_unusable_records(redis: Redis) -> None:
    """Stored tasks no release of this backend would write, but a neighbour on Redis, an
    old release or a hand-edited export could: each must be counted and left out."""
    good_result = [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["Positive"]},
        }
    ]
    records = {
        "x1": {"id": "x1", "data": {"text": "a fine film"}, "annotations": []},
        "9001": {
            "id": 9001,
            "data": {"text": "a fine film"},
            "annotations": [{"id": "abc", "result": good_result}],
        },
        "9002": {
            "id": 9002,
            "data": {"text": "a superb film"},
            "annotations": [5, {"id": 77, "result": good_result, "updated_at": "2026"}],
        },
        "9003": {
            "id": 9003,
            "data": {"text": "a dull film"},
            "annotations": [{"id": 78, "result": "Positive"}],
        },
        "9004": {"id": 9004, "data": ["not", "an", "object"], "annotations": []},
        "9005": {"id": 9005, "data": {"text": "fine"}, "annotations": {"id": 1}},
    }
    key = project_key(PROJECT, WEBHOOK_TASKS)
    redis.hset(key, mapping={k: json.dumps(v) for k, v in records.items()})
    redis.hset(key, "9006", json.dumps("a task that is a string"))


def test_unusable_records_are_counted_and_left_out_never_fatal(
    quiet_env: dict[str, str], redis: Redis
) -> None:
    settings = Settings.from_env(quiet_env)
    client = create_app(settings).test_client()
    Annotated(client, synthetic_reviews(30, seed=15))
    plant_unusable_records(redis)
    for _ in range(2):  # and every later run too
        result = run_training(settings, redis, PROJECT)
        assert result["outcome"] == "published", result
        left_out = result["controls"]["sentiment"]["left_out"]
        assert left_out == {
            "task id is not a number": 1,
            "annotation id is not a number": 1,
            "annotation is not an object": 1,
            "annotation result is not a list": 1,
            "task data is not an object": 1,
            "task annotations are not a list": 1,
            "task is not an object": 1,
        }, left_out
        # the task whose other annotation was usable learnt from it
        assert result["controls"]["sentiment"]["annotated"] == 31
        entry = ModelStore(settings.model_dir).read_version(PROJECT, result["version"]).controls[0]
        assert 9002 in {*entry.task_ids, *entry.held_out.task_ids}
    # and the project's webhooks go on: a deletion, and an update of an odd record
    delete_annotations(client, [77, 78])
    update = annotation_webhook(
        PROJECT, task("a dull film", task_id=9005), ["Negative"], annotation_id=79
    )
    assert client.post("/webhook", json=update).status_code == 200
    stored = json.loads(redis.hget(project_key(PROJECT, WEBHOOK_TASKS), "9005"))
    assert [a["id"] for a in stored["annotations"]] == [79]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_a_failed_run_gives_the_change_count_and_full_retrain_back(
    quiet_env: dict[str, str], redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Label Studio unreachable once the run has taken the count: the job fails, with the
    reason, and the next run still sees the changes and the full-retrain request."""
    api_env = {
        **quiet_env,
        "LABEL_STUDIO_URL": closed_port_url(),
        "LABEL_STUDIO_API_KEY": "a-token",
        "LABEL_STUDIO_TIMEOUT": "2",
    }
    in_process_worker_env(monkeypatch, api_env)
    settings = Settings.from_env(api_env)
    client = create_app(settings).test_client()
    changes = AnnotationChanges(redis)
    changes.add(PROJECT, 7)
    job_id = webhook(client, start_training(PROJECT, full=True))["job_id"]
    assert redis.exists(project_key(PROJECT, "full_retrain_requested"))

    run_worker(settings, burst=True)
    job = client.get(f"/jobs/{job_id}").json
    assert job["status"] == "failed"
    assert "Label Studio is unreachable" in job["error"], job
    assert changes.take(PROJECT) == 7
    assert changes.take_full_request(PROJECT) is True


def test_redis_restarted_empty_mid_run_leaves_the_worker_working(
    quiet_env: dict[str, str], tmp_path: Path
) -> None:
    """The run goes on (its progress is not saved while Redis is away) and publishes: the
    model store is on disk. The worker survives and takes the next job from the new Redis."""
    port = free_port()
    first, url = start_redis(tmp_path / "redis-a", port=port)
    password = url.split("//:", 1)[1].split("@", 1)[0]
    slow = {**quiet_env, "REDIS_URL": url, "TRAIN_EPOCHS": "400", "GATE_TOLERANCE": "1"}
    settings = Settings.from_env(slow)
    client = create_app(settings).test_client()
    redis = Redis.from_url(url)
    Annotated(client, synthetic_reviews(40, seed=16))
    worker = WorkerProcess(slow, tmp_path / "worker.log")
    second: subprocess.Popen | None = None
    try:
        job_id = webhook(client, start_training(PROJECT))["job_id"]

        def progress() -> dict | None:
            job = fetch_job(redis, job_id)
            return job.get_meta().get("progress") if job else None

        wait_for(progress, 120, message=worker.output()[-3000:])
        first.kill()  # no save on the way out
        first.wait(10)
        shutil.rmtree(tmp_path / "redis-a")  # its append-only file lost too
        # Redis stays away while the run tries to save its progress: the run goes on
        wait_for(lambda: "could not save its progress" in worker.output(), 60)
        second, _ = start_redis(tmp_path / "redis-b", port=port, password=password)
        store = ModelStore(settings.model_dir)
        published = wait_for(
            lambda: store.current_version(PROJECT), 300, 0.5, worker.output()[-3000:]
        )
        assert worker.process.poll() is None, worker.output()[-3000:]
        # the next job, queued in the new (empty) Redis: taken and run by the same worker
        next_id = webhook(client, start_training(PROJECT))["job_id"]
        ended = wait_for(
            lambda: (j := fetch_job(redis, next_id)) and j.is_failed and j,
            120,
            message=worker.output()[-3000:],
        )
        assert "no label config known" in ended.latest_result().exc_string
        assert worker.process.poll() is None
        print(f"\nthe run published {published}; its job afterwards: {job_status(redis, job_id)}")
    finally:
        worker.stop()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)


def job_status(redis: Redis, job_id: str) -> str:
    job = fetch_job(redis, job_id)
    return str(job.get_status()) if job else "gone with the old Redis"
