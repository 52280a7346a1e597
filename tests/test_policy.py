"""The champion/challenger policy and the training triggers, as pure functions: table-driven,
on hand-made records and scores, with no model, no Redis and no files."""

from __future__ import annotations

import pytest

from backend.label_config import CHOICES, LABELS, Control
from backend.training.policy import (
    comparison_set,
    decide,
    full_retrain_reason,
    label_set_change,
    plan_start,
    version_decision,
)
from backend.training.triggers import verdict
from backend.version_record import FULL, WARM, ControlRecord, Decision, StartPlan, VersionRecord

SENTIMENT = Control(CHOICES, "sentiment", "text", "text", ("Positive", "Negative"))
NEUTRAL_TOO = Control(CHOICES, "sentiment", "text", "text", ("Positive", "Negative", "Neutral"))
MULTI = Control(CHOICES, "sentiment", "text", "text", ("Positive", "Negative"), multi_label=True)
SPANS = Control(LABELS, "sentiment", "text", "text", ("Positive", "Negative"))


def trained(task_ids: list[int] | None = None, **fields: object) -> ControlRecord:
    base: dict = {"control": "sentiment", "labels": ["Positive", "Negative"]}
    return ControlRecord(**{**base, **fields}, task_ids=task_ids or [])


@pytest.mark.parametrize(
    ("previous", "control", "expected"),
    [
        (None, SENTIMENT, "the current version has no model for 'sentiment'"),
        (trained(), SENTIMENT, None),
        (trained(), NEUTRAL_TOO, "the label set of 'sentiment' changed from"),
        (trained(), MULTI, "changed from ['Positive', 'Negative'] to ['Positive', 'Negative']"),
        (trained(), SPANS, "'sentiment' changed from <choices> to <labels>"),
    ],
)
def test_label_set_change(
    previous: ControlRecord | None, control: Control, expected: str | None
) -> None:
    found = label_set_change(previous, control)
    assert found is None if expected is None else expected in (found or "")


@pytest.mark.parametrize(
    ("champion", "previous", "control", "warm", "full_reason", "mode", "reason"),
    [
        (None, None, SENTIMENT, True, None, FULL, "no version serves yet"),
        ("v3-x", trained(), SENTIMENT, False, None, FULL, "WARM_START is off"),
        ("v3-x", trained(), SENTIMENT, True, "asked", FULL, "asked"),
        ("v3-x", trained(), NEUTRAL_TOO, True, None, FULL, "label set of 'sentiment' changed"),
        ("v3-x", None, SENTIMENT, True, None, FULL, "has no model for 'sentiment'"),
        ("v3-x", trained(), SENTIMENT, True, None, WARM, "continues from v3-x"),
    ],
)
def test_plan_start(  # type: ignore[no-untyped-def]
    champion, previous, control, warm, full_reason, mode, reason
) -> None:
    plan = plan_start(champion, previous, control, warm, full_reason)
    assert plan.mode == mode and reason in plan.reason
    assert plan.from_version == (champion if mode == WARM else None)


def version(name: str, *modes: str) -> VersionRecord:
    controls = [trained(start=StartPlan(mode, "")) for mode in modes]
    return VersionRecord(version=name, controls=controls)


@pytest.mark.parametrize(
    ("requested", "newest", "expected"),
    [
        (True, [], "a full retrain was requested"),
        (False, [], None),
        (False, [("rejected", version("v2", WARM))], None),  # one loss is not enough
        (
            False,
            [("rejected", version("v2", WARM)), ("rejected", version("v3", WARM))],
            "the last 2 warm-started challengers (v2, v3) were rejected",
        ),
        (False, [("rejected", version("v2", WARM)), ("current", version("v3", WARM))], None),
        (False, [("rejected", version("v2", FULL)), ("rejected", version("v3", WARM))], None),
        (  # a version warm in one control of two counts as warm-started
            False,
            [("rejected", version("v2", FULL, WARM)), ("rejected", version("v3", WARM))],
            "(v2, v3) were rejected",
        ),
    ],
)
def test_full_retrain_reason(
    requested: bool, newest: list[tuple[str, VersionRecord]], expected: str | None
) -> None:
    found = full_retrain_reason(requested, newest)
    assert found is None if expected is None else expected in (found or "")


@pytest.mark.parametrize(
    ("champion", "previous", "control", "held_out", "positions", "why"),
    [
        (None, None, SENTIMENT, [1, 2], None, "the first version of the project"),
        ("v1", trained(), NEUTRAL_TOO, [1, 2], None, "changed from"),
        ("v1", trained(), SENTIMENT, None, None, "fewer than 20 annotated tasks"),
        ("v1", trained([1, 2]), SENTIMENT, [1, 2], None, "trained on every held-out task"),
        ("v1", trained([2, 9]), SENTIMENT, [1, 2, 3], [0, 2], None),  # seen tasks left out
        ("v1", trained([9]), SENTIMENT, [1, 2, 3], [0, 1, 2], None),
    ],
)
def test_comparison_set(  # type: ignore[no-untyped-def]
    champion, previous, control, held_out, positions, why
) -> None:
    found, reason = comparison_set(champion, previous, control, held_out, 20)
    assert found == positions
    assert (reason is None) if why is None else why in reason


def scores(value: float, metric: str = "macro_f1") -> dict:
    return {"metric": metric, "value": value}


@pytest.mark.parametrize(
    ("new", "old", "tolerance", "accepted", "reason"),
    [
        (0.70, 0.75, 0.01, False, "macro_f1 0.700 on 20 held-out tasks is 0.050 below"),
        (0.70, 0.75, 0.06, True, "against 0.750 for the current version"),
        (0.75, 0.75, 0.0, True, "macro_f1 0.750 on 20 held-out tasks"),  # a tie serves
        (0.749, 0.75, 0.0, False, "more than the tolerance of 0.000"),
        (0.90, 0.50, 0.01, True, "0.900 on 20 held-out tasks"),
    ],
)
def test_decide(new: float, old: float, tolerance: float, accepted: bool, reason: str) -> None:
    decision = decide(scores(new), scores(old), 20, tolerance, None)
    assert decision.accepted is accepted and reason in decision.reason
    assert (decision.metric, decision.challenger, decision.champion) == ("macro_f1", new, old)
    assert decision.compared_tasks == 20


def test_decide_without_comparison_accepts_and_says_why() -> None:
    first = decide(scores(0.1), None, 0, 0.01, "the first version of the project")
    assert first.accepted and first.reason.endswith("the first version of the project")
    one = decide(scores(0.7), scores(0.8), 1, 0.01, None)
    assert "on 1 held-out task " in one.reason


def test_a_version_serves_only_if_every_control_passed() -> None:
    good, bad = Decision(True, "fine"), Decision(False, "0.2 below")
    assert version_decision({"a": good, "b": good}) == Decision(True, "a: fine; b: fine")
    verdict_ = version_decision({"a": good, "b": bad})
    assert not verdict_.accepted
    assert verdict_.reason == "rejected, the current version keeps serving. b: 0.2 below"


@pytest.mark.parametrize(
    ("changes", "annotated", "has_version", "train", "reason"),
    [
        (3, 9, False, False, "9 annotated tasks; the first run starts at 10"),
        (3, 10, False, True, "10 annotated tasks, first run at 10"),
        (12, None, False, True, "12 annotated tasks"),  # unknown count: the changes tell
        (9, 500, True, False, "9 annotation changes since the last run; the next starts at 10"),
        (10, 500, True, True, "10 annotation changes since the last run"),
    ],
)
def test_training_triggers(
    changes: int, annotated: int | None, has_version: bool, train: bool, reason: str
) -> None:
    judged = verdict(changes, annotated, has_version, 10, 10)
    assert judged.train is train and reason in judged.reason
