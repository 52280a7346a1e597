"""The pure parts of a push: what is left to do, in which order, in which batches; the
progress figures; the checks before storing; retrying Label Studio with backoff."""

from __future__ import annotations

import pytest

from backend.errors import LabelStudioError
from backend.label_config import parse_label_config
from backend.training.push.checks import invalid_reason
from backend.training.push.plan import (
    PushProgress,
    batches,
    plan_push,
    predictions_by_task,
)
from backend.training.push.push import is_backend_version
from backend.training.push.studio import PushStudio
from tests.conftest import MULTI_CONFIG, REPO, SENTIMENT_CONFIG

MIXED_CONFIG = (REPO / "label_config" / "sentiment_and_entities.xml").read_text()


def tasks(*labelled: bool) -> list[dict]:
    return [
        {"id": 10 + i, "data": {"text": f"text {i}"}, "is_labeled": flag}
        for i, flag in enumerate(labelled)
    ]


def test_a_push_predicts_what_is_missing_unannotated_tasks_first() -> None:
    project = tasks(True, False, True, False, False)  # ids 10..14
    plan = plan_push(project, {11: [501], 99: [502]})  # 99: a task deleted since
    assert [t["id"] for t in plan.todo] == [13, 14, 10, 12]
    assert (plan.total, plan.already, plan.annotated_todo, plan.extra) == (5, 1, 2, [])


def test_a_resumed_push_finds_what_the_killed_one_stored_and_any_second_prediction() -> None:
    project = tasks(False, False, False, False)
    stored = predictions_by_task(
        [
            {"id": 1, "task": 10, "model_version": "v2-20261201T000000"},
            {"id": 2, "task": 11, "model_version": "v2-20261201T000000"},
            {"id": 7, "task": 11, "model_version": "v2-20261201T000000"},  # a duplicate
            {"id": 3, "task": 12, "model_version": "v1-20261130T000000"},  # another version
            {"id": 4, "task": None, "model_version": "v2-20261201T000000"},
        ],
        "v2-20261201T000000",
    )
    assert stored == {10: [1], 11: [2, 7]}
    plan = plan_push(project, stored)
    assert [t["id"] for t in plan.todo] == [12, 13]
    assert plan.already == 2
    assert plan.extra == [7]  # the task keeps its first prediction, the second goes


def test_batches_cover_every_task_once_in_order() -> None:
    items = [{"id": i} for i in range(7)]
    assert [[t["id"] for t in b] for b in batches(items, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches([], 3)) == []


def test_progress_has_a_rate_and_an_eta_once_tasks_are_done() -> None:
    progress = PushProgress(total=1000, started=100.0)
    assert progress.summary(101.0) == {
        "done": 0,
        "total": 1000,
        "stored": 0,
        "step": 0,
        "total_steps": 1000,
        "rate": None,
        "eta_seconds": None,
    }
    progress.done, progress.stored = 250, 200
    summary = progress.summary(105.0)
    assert (summary["rate"], summary["eta_seconds"], summary["stored"]) == (50.0, 15.0, 200)


def test_only_this_backends_versions_are_deleted() -> None:
    assert is_backend_version("v12-20261122T101500") and is_backend_version("untrained")
    assert not is_backend_version("lsbert") and not is_backend_version("my-model-v1")


def choices(*labels: str, name: str = "sentiment") -> dict:
    return {
        "from_name": name,
        "to_name": "text",
        "type": "choices",
        "value": {"choices": list(labels)},
    }


def span(start: int, end: int, text: str, label: str = "BRAND") -> dict:
    value = {"start": start, "end": end, "text": text[start:end], "labels": [label]}
    return {"from_name": "entities", "to_name": "text", "type": "labels", "value": value}


@pytest.mark.parametrize(
    ("config", "result", "reason"),
    [
        (SENTIMENT_CONFIG, [choices("Positive")], None),
        (SENTIMENT_CONFIG, [], None),  # a task without usable text: an empty prediction
        (SENTIMENT_CONFIG, [choices("Happy")], "not among its choices"),
        (SENTIMENT_CONFIG, [choices("Positive", "Negative")], "single-choice"),
        (SENTIMENT_CONFIG, [choices("Positive", name="mood")], "no control"),
        (MULTI_CONFIG, [choices("Sports", "Politics", name="topics")], None),
        (MIXED_CONFIG, [span(4, 9, "the Zorbo Rocket")], None),
        (MIXED_CONFIG, [span(4, 99, "the Zorbo Rocket")], "does not fit"),
        (MIXED_CONFIG, [span(4, 9, "the Zorbo Rocket", "PER")], "one of the control's labels"),
        (MIXED_CONFIG, [{"from_name": "entities"}], "to_name or type"),
    ],
)
def test_predictions_are_checked_against_the_label_config(
    config: str, result: list, reason: str | None
) -> None:
    task = {"id": 3, "data": {"text": "the Zorbo Rocket"}}
    prediction = {"task": 3, "result": result, "score": 0.8, "model_version": "v1"}
    found = invalid_reason(prediction, parse_label_config(config), task)
    assert found is None if reason is None else reason in (found or "")


def test_a_score_outside_0_to_1_or_another_task_is_refused() -> None:
    config = parse_label_config(SENTIMENT_CONFIG)
    task = {"id": 3, "data": {"text": "fine"}}
    good = {"task": 3, "result": [choices("Positive")], "score": 0.8, "model_version": "v1"}
    assert invalid_reason(good, config, task) is None
    assert "score" in (invalid_reason({**good, "score": 1.5}, config, task) or "")
    assert "task id" in (invalid_reason({**good, "task": 4}, config, task) or "")
    assert "model version" in (invalid_reason({**good, "model_version": ""}, config, task) or "")


class Flaky:
    """A Label Studio call that fails `failures` times with `status`, then answers."""

    def __init__(self, failures: int, status: int | None) -> None:
        self.failures, self.status, self.calls = failures, status, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise LabelStudioError("Label Studio is unreachable at http://ls", self.status)
        return "answer"


def test_label_studio_away_is_retried_with_growing_waits() -> None:
    waits: list[float] = []
    studio = PushStudio(None, retry_for=100.0, sleep=waits.append)  # type: ignore[arg-type]
    retried: list[int] = []
    call = Flaky(4, None)
    assert studio.retrying("reading", call, lambda: retried.append(call.calls)) == "answer"
    assert waits == [1.0, 2.0, 4.0, 8.0] and retried == [1, 2, 3, 4]


def test_retries_end_with_a_readable_reason_and_refusals_are_not_retried() -> None:
    waits: list[float] = []
    studio = PushStudio(None, retry_for=10.0, sleep=waits.append)  # type: ignore[arg-type]
    with pytest.raises(LabelStudioError, match="unreachable"):
        studio.retrying("reading", Flaky(100, 503))
    assert waits == [1.0, 2.0, 4.0]  # the next wait would pass 10 s
    waits.clear()
    refused = Flaky(100, 403)
    with pytest.raises(LabelStudioError):
        studio.retrying("reading", refused)
    assert refused.calls == 1 and waits == []
