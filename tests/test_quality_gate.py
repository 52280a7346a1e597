"""The suspect-label queue in the run, on the tiny BERT: a wrong label planted in a held-out
task tops the queue, the next run's gate leaves it out (and counts it), a label put right
is no longer left out, and `GET /quality` and `/versions` show what the worker wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.quality.report import gate_suspects, quality_report
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import choices
from backend.training.holdout import is_held_out
from backend.training.project_data import ProjectData
from backend.training.run import QualityInput, train_version
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG
from tests.texts import synthetic_reviews

PROJECT = 1
SHARE = 0.25
SUSPECT = "with a suspect label"
FLIP = {"Positive": "Negative", "Negative": "Positive"}


@pytest.fixture
def quality_settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(
        {
            **env,
            "HOLDOUT_SHARE": str(SHARE),
            "CROSS_VALIDATION_FOLDS": "0",
            "QUALITY_SUSPECT_SHARE": "0.1",
        }
    )


def tasks_of(rows: list[tuple[str, str]], wrong: set[int] = frozenset()) -> list[dict]:  # type: ignore[assignment]
    return [
        {
            "id": i,
            "data": {"text": text},
            "annotations": [
                {"id": 100 + i, "result": [choices([FLIP[label] if i in wrong else label])]}
            ],
        }
        for i, (text, label) in enumerate(rows, 1)
    ]


def run(store: ModelStore, settings: Settings, tasks: list[dict], gate: bool = True) -> tuple:
    data = ProjectData(SENTIMENT_CONFIG, tasks, "test")
    suspects = gate_suspects(store.read_quality(PROJECT), data) if gate else {}
    outcome = train_version(store, PROJECT, data, settings, quality=QualityInput(suspects))
    report = quality_report(store, PROJECT, data, outcome.version, settings, {})
    store.write_quality(PROJECT, report)
    return outcome, report


def left_out(outcome) -> dict:  # type: ignore[no-untyped-def]
    return outcome.record.controls[0].decision.extra["evidence"]["left_out"]


def test_a_wrong_held_out_label_tops_the_queue_and_the_gate_leaves_it_out(
    quality_settings: Settings, tmp_path: Path, redis
) -> None:  # type: ignore[no-untyped-def]
    rows = synthetic_reviews(90, seed=7)
    held = [i for i in range(1, 81) if is_held_out(PROJECT, i, SHARE)]
    wrong = held[0]
    store = ModelStore(quality_settings.model_dir)
    _, report = run(store, quality_settings, tasks_of(rows[:80], {wrong}))
    top = report["suspects"][0]
    assert (top["task"], top["annotation"], top["suspect"]) == (wrong, 100 + wrong, True)
    assert top["given"] == [FLIP[rows[wrong - 1][1]]] and top["suggested"] == [rows[wrong - 1][1]]
    assert [e["score"] for e in report["suspects"]] == sorted(
        (e["score"] for e in report["suspects"]), reverse=True
    )
    assert len(report["suspects"]) == 80
    assert report["gate"]["sentiment"][str(wrong)] == top["given"][0]

    second, _ = run(store, quality_settings, tasks_of(rows[:90], {wrong}))
    held_now = set(second.record.controls[0].held_out.task_ids)
    doubted = {int(t) for t in report["gate"]["sentiment"]} & held_now
    assert wrong in doubted and left_out(second)[SUSPECT] == len(doubted)
    assert "with a suspect label" in second.record.decision.reason

    # the same run told of no suspect compares the task (the check can fail)
    store_b = ModelStore(tmp_path / "b")
    run(store_b, quality_settings, tasks_of(rows[:80], {wrong}))
    blind, _ = run(store_b, quality_settings, tasks_of(rows[:90], {wrong}), gate=False)
    assert left_out(blind)[SUSPECT] == 0

    # put right, it is no longer a suspect: a correction is an ordinary annotation change
    still = ProjectData(SENTIMENT_CONFIG, tasks_of(rows[:90], {wrong}), "test")
    fixed = ProjectData(SENTIMENT_CONFIG, tasks_of(rows[:90]), "test")
    assert wrong in gate_suspects(store.read_quality(PROJECT), still)["sentiment"]
    assert wrong not in gate_suspects(store.read_quality(PROJECT), fixed)["sentiment"]

    client = create_app(quality_settings, redis).test_client()
    served = client.get(f"/quality?project={PROJECT}").get_json()
    assert served == store.read_quality(PROJECT) and served["version"] == second.version
    missing = client.get("/quality?project=2")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    details = client.get(f"/versions?project={PROJECT}").get_json()["details"]
    assert all("agreement" in d for d in details)
