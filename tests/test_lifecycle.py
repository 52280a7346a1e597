"""The model lifecycle: gating, warm start, rollback, retention, triggers, on a real Redis.

Runs train the tiny BERT in this process through `run_training` (the job's own code) where
the worker adds nothing; the poisoned round and the burst go through a real worker process.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from redis import Redis

from backend.redis_store import LABEL_CONFIG, project_key
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import annotation_webhook, predict_body, setup_body, task
from backend.training.holdout import is_held_out
from backend.training.run import run_training
from backend.version_record import WARM, StartPlan
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG, WorkerProcess, wait_for
from tests.test_training_loop import finished_job, version_of, webhook
from tests.texts import synthetic_reviews

PROJECT = 1
THREE_LABELS = SENTIMENT_CONFIG.replace(
    '<Choice value="Negative"/>', '<Choice value="Negative"/><Choice value="Neutral"/>'
)


@pytest.fixture
def lifecycle_env(env: dict[str, str]) -> dict[str, str]:
    # a held-out set big enough to tell a poisoned model from a good one; runs start when
    # the test says so (START_TRAINING or run_training), not on each annotation event
    return {
        **env,
        "HOLDOUT_SHARE": "0.25",
        "GATE_TOLERANCE": "0.05",
        "TRAIN_MIN_ANNOTATIONS": "100000",
        "TRAIN_EVERY_CHANGES": "100000",
    }


@pytest.fixture
def lifecycle_settings(lifecycle_env: dict[str, str]) -> Settings:
    return Settings.from_env(lifecycle_env)


@pytest.fixture
def app_client(lifecycle_settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(lifecycle_settings).test_client()


class Annotated:
    """Tasks annotated through webhooks, with the ids to update or delete them later."""

    def __init__(self, client, rows: list[tuple[str, str]], first_id: int = 1) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.tasks = [task(text, task_id=first_id + i) for i, (text, _) in enumerate(rows)]
        self.labels = [label for _, label in rows]
        for index in range(len(rows)):
            self.send(index, self.labels[index], "ANNOTATION_CREATED")

    def annotation_id(self, index: int) -> int:
        return 50_000 + int(self.tasks[index]["id"])

    def send(self, index: int, label: str, action: str) -> dict:
        body = annotation_webhook(
            PROJECT,
            self.tasks[index],
            [label],
            annotation_id=self.annotation_id(index),
            action=action,
            label_config=SENTIMENT_CONFIG,
        )
        return webhook(self.client, body)

    def relabel(self, indexes: list[int], flip: bool) -> None:
        other = {"Positive": "Negative", "Negative": "Positive"}
        for index in indexes:
            label = other[self.labels[index]] if flip else self.labels[index]
            self.send(index, label, "ANNOTATION_UPDATED")

    def training_side(self, share: float) -> list[int]:
        return [
            i for i, t in enumerate(self.tasks) if not is_held_out(PROJECT, int(t["id"]), share)
        ]


def versions(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/versions?project={PROJECT}")
    assert response.status_code == 200, response.json
    return response.json


def detail(client, version: str) -> dict:  # type: ignore[no-untyped-def]
    return next(d for d in versions(client)["details"] if d["version"] == version)


def served_version(client) -> str:  # type: ignore[no-untyped-def]
    body = predict_body(PROJECT, [task("the plot was really dreadful")], SENTIMENT_CONFIG)
    return client.post("/predict", json=body).json["model_version"]


def test_a_poisoned_challenger_is_rejected_and_an_honest_warm_start_is_accepted(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, lifecycle_env, redis: Redis, tmp_path: Path
) -> None:
    worker = WorkerProcess(lifecycle_env, tmp_path / "worker.log")
    try:
        project = Annotated(app_client, synthetic_reviews(80, seed=11))
        start = {"action": "START_TRAINING", "project": {"id": PROJECT}}
        good = finished_job(redis, webhook(app_client, start)["job_id"], worker).return_value()
        assert good["outcome"] == "published", good

        # an annotator relabels most training tasks wrongly: the model trained on them learns
        # the opposite, and the held-out tasks, still labelled right, show it
        poisoned_tasks = project.training_side(0.25)[:50]
        project.relabel(poisoned_tasks, flip=True)
        job_id = webhook(app_client, start)["job_id"]
        poisoned = finished_job(redis, job_id, worker).return_value()
        assert poisoned["outcome"] == "rejected", poisoned
        assert poisoned["serving"] == good["version"]
        # relabelled: it must show it is at least as good on the tasks whose labels stayed
        assert "rejected (" in poisoned["reason"] and "labels of" in poisoned["reason"]
        assert version_of(app_client, PROJECT) == good["version"]
        assert served_version(app_client) == good["version"]
        listed = detail(app_client, poisoned["version"])
        assert listed["status"] == "rejected" and listed["accepted"] is False
        decision = listed["controls"][0]["decision"]
        assert decision["challenger"] < decision["champion"] - 0.05
        assert listed["reason"] == poisoned["reason"]
        job = app_client.get(f"/jobs/{job_id}").json
        assert job["outcome"] == "rejected" and job["version"] == poisoned["version"]

        # the labels are put right and more tasks annotated: a warm start from the good
        # version, which keeps serving until the new one passes
        project.relabel(poisoned_tasks, flip=False)
        Annotated(app_client, synthetic_reviews(20, seed=12), first_id=1000)
        honest = finished_job(redis, webhook(app_client, start)["job_id"], worker).return_value()
        assert honest["outcome"] == "published", honest
        listed = detail(app_client, honest["version"])
        assert listed["status"] == "current"
        assert listed["controls"][0]["start"] == "warm"
        assert (
            listed["controls"][0]["training_annotations"] + listed["controls"][0]["held_out_tasks"]
            == 100
        )
        assert served_version(app_client) == honest["version"]
    finally:
        worker.stop()


def test_rollback_restart_and_retention(  # type: ignore[no-untyped-def]
    app_client, lifecycle_env: dict[str, str], redis: Redis
) -> None:
    settings = Settings.from_env({**lifecycle_env, "KEEP_VERSIONS": "3"})
    project = Annotated(app_client, synthetic_reviews(40, seed=3))
    made = [run_training(settings, redis, PROJECT)["version"]]
    for round_ in range(2):
        project.relabel([round_], flip=False)
        made.append(run_training(settings, redis, PROJECT)["version"])
    first, second, third = made
    assert version_of(app_client, PROJECT) == third

    answer = app_client.post(f"/versions/{first}/activate?project={PROJECT}").json
    assert answer["model_version"] == first and answer["replaced"] == third
    restarted = create_app(settings).test_client()  # a web process started after the change
    assert served_version(restarted) == first == version_of(restarted, PROJECT)
    assert served_version(app_client) == first
    statuses = {d["version"]: d["status"] for d in versions(app_client)["details"]}
    assert statuses == {first: "current", second: "superseded", third: "rolled_back"}

    missing = app_client.post(f"/versions/v99-20260101T000000/activate?project={PROJECT}")
    assert missing.status_code == 404
    assert first in missing.json["fix"] and "no version" in missing.json["message"]

    fourth = run_training(settings, redis, PROJECT)
    assert fourth["outcome"] == "published"
    # the oldest beyond 3 that is not a rollback target: `first` was activated by hand in
    # the last 3 runs, and `third` was current before it
    assert fourth["deleted_versions"] == [second]
    listing = versions(app_client)
    assert listing["versions"] == [fourth["version"], third, first]
    assert listing["history"][-1]["event"] == "deleted"
    assert not ModelStore(settings.model_dir).version_dir(PROJECT, second).exists()
    assert ModelStore(settings.model_dir).next_version_name(PROJECT).startswith("v5-")


def test_warm_start_takes_fewer_steps_than_a_full_retrain(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    Annotated(app_client, synthetic_reviews(60, seed=5))
    run_training(lifecycle_settings, redis, PROJECT)
    warm = run_training(lifecycle_settings, redis, PROJECT)
    start = {"action": "START_TRAINING", "project": {"id": PROJECT}, "full_retrain": True}
    webhook(app_client, start)
    full = run_training(lifecycle_settings, redis, PROJECT)
    records = ModelStore(lifecycle_settings.model_dir)
    warm_record = records.read_raw_version(PROJECT, warm["version"])["controls"][0]
    full_record = records.read_raw_version(PROJECT, full["version"])["controls"][0]
    assert warm_record["start"]["mode"] == "warm"
    assert full_record["start"] == {
        "mode": "full",
        "reason": "a full retrain was requested",
        "from_version": None,
    }
    assert warm_record["epochs"] == lifecycle_settings.train_warm_epochs
    assert full_record["epochs"] == lifecycle_settings.train_epochs
    assert warm_record["steps"] * 3 < full_record["steps"]
    print(f"warm {warm_record['seconds']} s, full {full_record['seconds']} s of training")


def test_two_rejected_warm_starts_make_the_next_run_start_in_full(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    """The policy's rule (tests/test_policy.py) as the run applies it to the store: after
    two warm-started challengers in a row were rejected, every control starts afresh."""
    Annotated(app_client, synthetic_reviews(30, seed=4))
    first = run_training(lifecycle_settings, redis, PROJECT)["version"]
    store = ModelStore(lifecycle_settings.model_dir)
    rejected = []
    for _ in range(2):  # two challengers as a warm start makes them, turned away
        record = store.read_version(PROJECT, first)
        for control in record.controls:
            control.start = StartPlan(WARM, f"continues from {first}", first)
        with store.staging(PROJECT) as staged:
            shutil.copytree(store.version_dir(PROJECT, first), staged, dirs_exist_ok=True)
            rejected.append(store.publish(PROJECT, staged, record, make_current=False))
    after = run_training(lifecycle_settings, redis, PROJECT)
    entry = store.read_version(PROJECT, after["version"]).controls[0]
    assert entry.start.mode == "full"
    assert f"warm-started challengers ({', '.join(rejected)}) were rejected" in entry.start.reason
    assert entry.epochs == lifecycle_settings.train_epochs


def test_a_changed_label_set_restarts_the_comparison(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    Annotated(app_client, synthetic_reviews(40, seed=6))
    run_training(lifecycle_settings, redis, PROJECT)
    app_client.post("/setup", json=setup_body(PROJECT, THREE_LABELS))
    wait_for(
        lambda: "Neutral" in (redis.get(project_key(PROJECT, LABEL_CONFIG)) or b"").decode(),
        5,
    )
    changed = run_training(lifecycle_settings, redis, PROJECT)
    assert changed["outcome"] == "published"
    control = ModelStore(lifecycle_settings.model_dir).read_raw_version(PROJECT, changed["version"])
    entry = control["controls"][0]
    assert entry["labels"] == ["Positive", "Negative", "Neutral"]
    assert entry["start"]["mode"] == "full"
    assert "label set of 'sentiment' changed" in entry["start"]["reason"]
    assert "the comparison restarts" in entry["decision"]["reason"]


def test_deleted_annotations_leave_the_training_set(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    project = Annotated(app_client, synthetic_reviews(30, seed=8))
    gone = [project.annotation_id(i) for i in range(5)]
    webhook(
        app_client,
        {
            "action": "ANNOTATIONS_DELETED",
            "project": {"id": PROJECT},
            "annotations": [{"id": i} for i in gone],
        },
    )
    result = run_training(lifecycle_settings, redis, PROJECT)
    record = ModelStore(lifecycle_settings.model_dir).read_raw_version(PROJECT, result["version"])
    entry = record["controls"][0]
    used = set(entry["task_ids"]) | set(entry["held_out"]["task_ids"])
    assert len(used) == 25
    assert not used & {int(t["id"]) for t in project.tasks[:5]}


def test_annotation_events_train_at_the_thresholds(  # type: ignore[no-untyped-def]
    lifecycle_env: dict[str, str], redis: Redis
) -> None:
    env = {**lifecycle_env, "TRAIN_MIN_ANNOTATIONS": "5", "TRAIN_EVERY_CHANGES": "3"}
    settings = Settings.from_env(env)
    client = create_app(settings).test_client()
    rows = synthetic_reviews(6, seed=9)
    project = Annotated(client, rows[:4])
    answer = project.send(3, project.labels[3], "ANNOTATION_UPDATED")
    assert answer["status"] == "waiting"
    assert answer["reason"] == "4 annotated tasks; the first run starts at 5"
    fifth = Annotated(client, rows[4:5], first_id=5)
    assert fifth.send(0, fifth.labels[0], "ANNOTATION_UPDATED")["status"] in (
        "queued",
        "coalesced",
    )
    run_training(settings, redis, PROJECT)  # takes the count: changes start again from 0

    first = project.send(0, project.labels[0], "ANNOTATION_UPDATED")
    assert (first["status"], first["reason"]) == (
        "waiting",
        "1 annotation changes since the last run; the next starts at 3 changes",
    )
    deleted = webhook(
        client,
        {
            "action": "ANNOTATIONS_DELETED",
            "project": {"id": PROJECT},
            "annotations": [{"id": project.annotation_id(1)}, {"id": project.annotation_id(2)}],
        },
    )
    assert deleted["status"] in ("queued", "coalesced")
    assert "3 annotation changes" in deleted["reason"]

    # Label Studio sends the project's count: a project connected late trains at once
    other = annotation_webhook(
        2, task("the film was great"), ["Positive"], label_config=SENTIMENT_CONFIG
    )
    other["project"]["num_tasks_with_annotations"] = 40
    assert webhook(client, other)["status"] == "queued"
    forced = webhook(client, {"action": "START_TRAINING", "project": {"id": 3}})
    assert forced["status"] == "queued" and forced["reason"].startswith("start_training")


def test_a_burst_of_concurrent_webhooks_loses_no_annotation(  # type: ignore[no-untyped-def]
    lifecycle_env: dict[str, str], redis: Redis, worker: WorkerProcess
) -> None:
    every_event = {**lifecycle_env, "TRAIN_MIN_ANNOTATIONS": "1", "TRAIN_EVERY_CHANGES": "1"}
    settings = Settings.from_env(every_event)
    rows = synthetic_reviews(40, seed=10)
    clients = [create_app(settings).test_client() for _ in range(4)]
    errors: list[str] = []

    def send(part: int) -> None:
        for index in range(part, len(rows), len(clients)):
            text, label = rows[index]
            body = annotation_webhook(
                PROJECT, task(text, task_id=index + 1), [label], label_config=SENTIMENT_CONFIG
            )
            response = clients[part].post("/webhook", json=body)
            if response.status_code != 200:
                errors.append(str(response.json))

    threads = [threading.Thread(target=send, args=(part,)) for part in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    store = ModelStore(settings.model_dir)

    def trained_on_everything() -> dict | None:
        names = store.versions(PROJECT)
        record = store.read_raw_version(PROJECT, names[-1]) if names else {}
        return record if record.get("annotated_tasks") == len(rows) else None

    wait_for(trained_on_everything, 120, message=worker.output()[-3000:])
    jobs = clients[0].get(f"/jobs?project={PROJECT}").json
    assert 1 <= len(jobs["jobs"]) <= len(rows)
    assert all(j["status"] in ("finished", "running", "queued", "deferred") for j in jobs["jobs"])


def test_too_few_annotations_to_hold_out_get_a_cross_validated_estimate(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    Annotated(app_client, synthetic_reviews(12, seed=13))
    run_training(lifecycle_settings, redis, PROJECT)
    result = run_training(lifecycle_settings, redis, PROJECT)
    entry = ModelStore(lifecycle_settings.model_dir).read_raw_version(PROJECT, result["version"])
    control = entry["controls"][0]
    assert control["examples"] == 12 and control["held_out"]["task_ids"] == []
    estimate = control["held_out"]["cross_validation"]
    assert estimate["method"] == "3-fold cross-validation" and estimate["metric"] == "macro_f1"
    assert len(estimate["folds"]) == 3 and 0.0 <= estimate["value"] <= 1.0
    assert estimate["value"] == round(sum(estimate["folds"]) / 3, 4)
    # the same annotations again: nothing new to compare on, and nothing the champion had lost
    assert "no task is left to compare them on" in control["decision"]["reason"]
    listed = detail(app_client, result["version"])["controls"][0]
    assert listed["cross_validation"] == estimate


def test_only_a_challenger_that_must_prove_itself_is_scored_out_of_fold(  # type: ignore[no-untyped-def]
    app_client, lifecycle_env: dict[str, str], redis: Redis
) -> None:
    """Few held-out tasks (10 %, under GATE_MIN_TASKS): a challenger on more labels is
    judged on them alone, since fold models learnt from fewer labels than it did; one whose
    champion's annotations were removed must show it is at least as good, and the tasks
    annotated since the champion are answered out of fold to give it the tasks to do so."""
    settings = Settings.from_env({**lifecycle_env, "HOLDOUT_SHARE": "0.1"})
    project = Annotated(app_client, synthetic_reviews(40, seed=21))
    run_training(settings, redis, PROJECT)
    store = ModelStore(settings.model_dir)

    def evidence(result: dict) -> dict:
        record = store.read_raw_version(PROJECT, result["version"])
        return record["controls"][0]["decision"]["evidence"]

    Annotated(app_client, synthetic_reviews(30, seed=22), first_id=1000)
    more = evidence(run_training(settings, redis, PROJECT))
    assert more["not_superset"] is None and more["cross_validated_tasks"] == 0
    assert more["tasks"] == more["held_out_tasks"] < settings.gate_min_tasks

    gone = project.training_side(0.1)[:20]  # a third of its training annotations: beyond
    # GATE_CORRECTIONS_SHARE, so more than corrections
    webhook(
        app_client,
        {
            "action": "ANNOTATIONS_DELETED",
            "project": {"id": PROJECT},
            "annotations": [{"id": project.annotation_id(i)} for i in gone],
        },
    )
    Annotated(app_client, synthetic_reviews(30, seed=23), first_id=2000)
    result = run_training(settings, redis, PROJECT)
    removed = evidence(result)
    assert "20 annotations it trained on were removed" in removed["not_superset"]
    assert removed["cross_validated_tasks"] >= 25  # the 30 new ones, less those held out
    assert removed["tasks"] == removed["held_out_tasks"] + removed["cross_validated_tasks"]
    assert "new since it, scored out of fold" in result["reason"]


def test_annotations_that_more_than_doubled_retrain_in_full(  # type: ignore[no-untyped-def]
    app_client, lifecycle_settings: Settings, redis: Redis
) -> None:
    """The run reads the champion's record from the store and counts the control's
    annotated tasks: 20 then 30 more (more than twice 20) is a full start, and with a
    reason that says so; 10 more after that continues warm."""
    Annotated(app_client, synthetic_reviews(20, seed=31))
    run_training(lifecycle_settings, redis, PROJECT)
    Annotated(app_client, synthetic_reviews(30, seed=32), first_id=1000)
    grown = run_training(lifecycle_settings, redis, PROJECT)
    Annotated(app_client, synthetic_reviews(10, seed=33), first_id=2000)
    steady = run_training(lifecycle_settings, redis, PROJECT)
    store = ModelStore(lifecycle_settings.model_dir)
    start = store.read_raw_version(PROJECT, grown["version"])["controls"][0]["start"]
    assert start["mode"] == "full"
    assert start["reason"].startswith("50 annotated tasks, more than twice the 20 of the current")
    after = store.read_raw_version(PROJECT, steady["version"])["controls"][0]["start"]
    assert after["mode"] == "warm" and after["from_version"] == grown["version"]
