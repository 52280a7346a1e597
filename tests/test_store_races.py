"""The model store under races and abuse: a rollback made while a run trains stands, two
writers of one project never delete each other's folder, and forced runs cannot prune
every rollback target. Runs train the tiny BERT in this process through the job's code."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from redis import Redis

from backend.settings import Settings
from backend.store import STAGING_PREFIX, ModelStore
from backend.store_rules import protected
from backend.training.run import run_training
from backend.training.worker import run_worker
from backend.version_record import Decision, VersionRecord
from backend.web.app import create_app
from tests.conftest import REPO, child_env
from tests.test_lifecycle import Annotated, served_version, versions
from tests.test_training_loop import webhook
from tests.texts import synthetic_reviews

PROJECT = 1  # tests.test_lifecycle's helpers annotate and read project 1


@pytest.fixture
def open_env(env: dict[str, str]) -> dict[str, str]:
    """Every run publishes whatever its score; runs start when the test says so."""
    return {
        **env,
        "GATE_TOLERANCE": "1",
        "TRAIN_MIN_ANNOTATIONS": "100000",
        "TRAIN_EVERY_CHANGES": "100000",
    }


def test_a_rollback_made_while_a_run_trains_is_not_undone_by_it(
    open_env: dict[str, str], redis: Redis
) -> None:
    settings = Settings.from_env(open_env)
    client = create_app(settings).test_client()
    Annotated(client, synthetic_reviews(40, seed=3))
    first = run_training(settings, redis, PROJECT)["version"]
    second = run_training(settings, redis, PROJECT)["version"]
    rolled_back: list[dict] = []

    def roll_back_once(stage: str, details: dict) -> None:
        # as a person would, through the route, while the run is in its training steps
        if not rolled_back:
            answer = client.post(f"/versions/{first}/activate?project={PROJECT}")
            rolled_back.append(answer.json)

    third = run_training(settings, redis, PROJECT, roll_back_once)
    assert rolled_back and rolled_back[0]["replaced"] == second, rolled_back
    assert third["outcome"] == "rejected" and third["serving"] == first
    assert served_version(client) == first
    assert ModelStore(settings.model_dir).current_version(PROJECT) == first
    listed = {d["version"]: d for d in versions(client)["details"]}
    kept = listed[third["version"]]
    assert kept["status"] == "rejected" and kept["accepted"] is False
    reason = kept["reason"]
    assert f"the current version changed from {second} to {first} while it trained" in reason
    assert "it passed the comparison" in reason
    assert f"POST /versions/{third['version']}/activate?project={PROJECT}" in reason
    assert third["reason"] == reason
    history = versions(client)["history"]
    assert history[-1]["event"] == "rejected" and "changed from" in history[-1]["reason"]
    assert listed[first]["status"] == "current" and listed[second]["status"] == "rolled_back"

    # the kept challenger is whole: activated by hand, it serves
    client.post(f"/versions/{third['version']}/activate?project={PROJECT}")
    assert served_version(client) == third["version"]


def stage_files(store: ModelStore, staged: Path, names: list[str]) -> None:
    for name in names:
        (staged / name).write_text(name)


def test_two_overlapping_writers_of_one_project_each_publish_a_whole_version(
    tmp_path: Path,
) -> None:
    """Two runs of one project at once (a lock expired, Redis emptied, two hosts on one
    volume): the first to publish must not delete the other's staging folder."""
    store = ModelStore(tmp_path)
    both_staging = threading.Barrier(2, timeout=30)
    first_published = threading.Event()
    published: dict[str, str] = {}
    errors: list[BaseException] = []

    def writer(name: str, goes_first: bool) -> None:
        try:
            champion = store.current_version(PROJECT)
            with store.staging(PROJECT) as staged:
                stage_files(store, staged, [f"{name}-config.json"])
                both_staging.wait()  # both writers alive, each with a staging folder
                if not goes_first:
                    assert first_published.wait(30)
                stage_files(store, staged, [f"{name}-weights.bin", f"{name}-tokenizer.json"])
                record = VersionRecord(champion=champion, decision=Decision(True, "passed"))
                published[name] = store.publish(PROJECT, staged, record, compare_and_swap=True)
            if goes_first:
                first_published.set()
        except BaseException as error:
            errors.append(error)
            first_published.set()

    threads = [
        threading.Thread(target=writer, args=("early", True)),
        threading.Thread(target=writer, args=("late", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for name, version in published.items():
        files = {p.name for p in store.version_dir(PROJECT, version).iterdir()}
        assert files == {
            f"{name}-config.json",
            f"{name}-weights.bin",
            f"{name}-tokenizer.json",
            "version.json",
        }
    # the late one was compared with no champion, but the early one was current by then
    assert store.current_version(PROJECT) == published["early"]
    late = store.read_version(PROJECT, published["late"])
    assert not late.decision.accepted
    assert "changed from none to " + published["early"] in late.decision.reason
    assert not list(store.versions_dir(PROJECT).glob(f"{STAGING_PREFIX}*"))


WRITER = """
import sys, time
from pathlib import Path
from backend.store import ModelStore
with ModelStore(Path(sys.argv[1])).staging(1) as staged:
    (staged / "weights.bin").write_text("half")
    print(staged, flush=True)
    time.sleep(600)
"""


def writer_process(root: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=child_env({"PYTHONPATH": str(REPO)}),
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def publish_one(store: ModelStore) -> str:
    with store.staging(PROJECT) as staged:
        stage_files(store, staged, ["weights.bin"])
        return store.publish(PROJECT, staged, VersionRecord())


def test_a_live_writers_folder_stays_and_a_killed_writers_folder_goes(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    live, live_folder = writer_process(tmp_path)
    killed, killed_folder = writer_process(tmp_path)
    try:
        killed.send_signal(signal.SIGKILL)  # no handler, no cleanup: the kernel drops its lock
        killed.wait(10)
        publish_one(store)
        assert (live_folder / "weights.bin").read_text() == "half"
        assert not killed_folder.exists()
        assert not killed_folder.with_name(killed_folder.name + ".lock").exists()
    finally:
        live.kill()
        live.wait(10)
    publish_one(store)
    assert not list(store.versions_dir(PROJECT).glob(f"{STAGING_PREFIX}*"))


def event(kind: str, version: str) -> dict:
    return {"at": "2026-12-01T00:00:00.000Z", "event": kind, "version": version}


@pytest.mark.parametrize(
    ("history", "current", "keep", "kept"),
    [
        # the current version and the two current before it
        ([event("published", f"v{n}-x") for n in range(1, 6)], "v5-x", 2, {"v5-x", "v4-x", "v3-x"}),
        # a rollback: the version activated by hand, and those it replaced
        (
            [*(event("published", f"v{n}-x") for n in range(1, 4)), event("activated", "v1-x")],
            "v1-x",
            10,
            {"v1-x", "v3-x", "v2-x"},
        ),
        # activated by hand, then two forced runs: still kept (in the last 3 runs)
        (
            [
                *(event("published", f"v{n}-x") for n in range(1, 4)),
                event("activated", "v1-x"),
                *(event("published", f"v{n}-x") for n in range(4, 9)),
            ],
            "v8-x",
            5,
            {"v8-x", "v7-x", "v6-x", "v1-x"},
        ),
        # ... but not beyond `keep` runs later
        (
            [
                event("activated", "v1-x"),
                *(event("published", f"v{n}-x") for n in range(4, 7)),
            ],
            "v6-x",
            2,
            {"v6-x", "v5-x", "v4-x"},
        ),
        # rejected runs count as runs, and were never current
        (
            [event("published", "v1-x"), *(event("rejected", f"v{n}-x") for n in range(2, 6))],
            "v1-x",
            3,
            {"v1-x"},
        ),
    ],
)
def test_what_pruning_keeps(history: list[dict], current: str, keep: int, kept: set[str]) -> None:
    assert protected(history, current, keep) == kept


def in_process_worker_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The job reads its settings from the environment, as in a worker process."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_forced_runs_cannot_prune_the_rollback_targets(
    open_env: dict[str, str], redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """START_TRAINING again and again (with full_retrain), each run publishing and pruning:
    the version activated by hand and the versions current before the last two stay."""
    worker_env = {**open_env, "KEEP_VERSIONS": "2"}
    in_process_worker_env(monkeypatch, worker_env)
    settings = Settings.from_env(worker_env)
    client = create_app(settings).test_client()
    store = ModelStore(settings.model_dir)
    Annotated(client, synthetic_reviews(30, seed=5))
    made = [run_training(settings, redis, PROJECT)["version"] for _ in range(3)]
    client.post(f"/versions/{made[0]}/activate?project={PROJECT}")  # the user's rollback
    forced = {"action": "START_TRAINING", "project": {"id": PROJECT}, "full_retrain": True}
    for _ in range(2):
        webhook(client, forced)
        run_worker(settings, burst=True)
        made.append(store.current_version(PROJECT))
    first, second, third, fourth, fifth = made
    assert store.current_version(PROJECT) == fifth
    # activated by hand within the last 2 runs, and the two current before the current one
    assert set(store.versions(PROJECT)) == {first, fourth, fifth}
    deleted = [e["version"] for e in store.history(PROJECT) if e["event"] == "deleted"]
    assert sorted(deleted) == sorted([second, third])
    client.post(f"/versions/{first}/activate?project={PROJECT}")
    assert served_version(client) == first
