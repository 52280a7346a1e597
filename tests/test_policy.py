"""The champion/challenger policy and the training triggers, as pure functions: table-driven,
on hand-made records and scores, with no model, no Redis and no files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.label_config import CHOICES, LABELS, Control
from backend.training.policy import (
    Comparison,
    ComparisonPlan,
    decide,
    full_retrain_reason,
    label_set_change,
    plan_comparison,
    plan_start,
    superset_gap,
    version_decision,
)
from backend.training.triggers import verdict
from backend.version_record import (
    FULL,
    WARM,
    ControlRecord,
    Decision,
    HeldOut,
    StartPlan,
    VersionRecord,
)
from model.paired import paired_difference, task_counts

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


@pytest.mark.parametrize(
    ("annotations", "mode"),
    [(20, WARM), (24, WARM), (25, FULL), (500, FULL)],  # the champion had 12: 10 + 2 held out
)
def test_annotations_more_than_doubled_since_the_champion_start_in_full(
    annotations: int, mode: str
) -> None:
    previous = trained(list(range(10)), held_out=HeldOut([10, 11], {}))
    plan = plan_start("v3-x", previous, SENTIMENT, True, None, annotations)
    assert plan.mode == mode
    if mode == FULL:
        assert plan.reason == (
            f"{annotations} annotated tasks, more than twice the 12 of the current version: "
            "a warm start's few passes would leave most of them barely learnt"
        )


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


def held(*tasks: int, key: str = "Positive") -> dict[int, str]:
    return dict.fromkeys(tasks, key)


WARM_FROM_V1 = StartPlan(WARM, "continues from v1", "v1")


@pytest.mark.parametrize(
    ("champion", "previous", "control", "why"),
    [
        (None, None, SENTIMENT, "the first version of the project"),
        ("v1", trained(), NEUTRAL_TOO, "label set of 'sentiment' changed"),
        ("v1", None, SENTIMENT, "has no model for 'sentiment'; the comparison restarts"),
    ],
)
def test_no_comparison_where_there_is_no_champion_to_compare(  # type: ignore[no-untyped-def]
    champion, previous, control, why
) -> None:
    found = plan_comparison(champion, previous, control, WARM_FROM_V1, held(1, 2), held(3))
    assert isinstance(found, str) and why in found


def champion_of(trained_on: list[int], judged_on: list[int], labels: dict[int, str]):  # type: ignore[no-untyped-def]
    scores = {"metric": "macro_f1", "value": 0.8}
    record = trained(trained_on, held_out=HeldOut(judged_on, scores))
    record.targets = {str(task): key for task, key in labels.items()}
    return record


def test_the_comparison_leaves_out_seen_relabelled_and_suspect_tasks() -> None:
    labels = {1: "Positive", 2: "Negative", 5: "Positive", 6: "Negative", 7: "Positive"}
    previous = champion_of([1, 2], [5, 6, 7], labels)
    now = {**held(2, 5, 6, 7, 8, 9), 6: "Positive"}  # 6 relabelled; 2 moved to held out
    plan = plan_comparison("v1", previous, SENTIMENT, WARM_FROM_V1, now, held(1), [9])
    assert isinstance(plan, ComparisonPlan)
    assert plan.held_out == [1, 3, 4]  # positions of tasks 5, 7 and 8 in `now`
    assert plan.own_held_out == [1, 2, 3]  # tasks 5, 6 and 7: the champion was judged on them
    assert plan.changed == (6,) and plan.champion_then == 0.8
    assert plan.left_out == {
        "the current version trained on": 1,
        "relabelled since the current version was judged": 1,
        "with a suspect label": 1,
    }
    assert plan.new == []
    assert plan.not_superset == "the labels of 1 task the current version trained on changed"


def test_few_held_out_tasks_bring_in_the_tasks_annotated_since_the_champion() -> None:
    # task 1 was Negative when the champion trained: not a superset, so it must show it is
    # at least as good, on as many tasks as can fairly be scored
    previous = champion_of([1, 2], [5], {1: "Negative", 2: "Positive", 5: "Positive"})
    train = held(1, 2, 10, 11, 12)
    plenty = plan_comparison("v1", previous, SENTIMENT, WARM_FROM_V1, held(5), train, min_tasks=1)
    few = plan_comparison("v1", previous, SENTIMENT, WARM_FROM_V1, held(5), train, min_tasks=30)
    assert isinstance(plenty, ComparisonPlan) and plenty.new == []
    assert isinstance(few, ComparisonPlan) and few.new == [2, 3, 4]  # tasks 10, 11 and 12
    assert few.not_superset == "the labels of 1 task the current version trained on changed"


def test_a_superset_challenger_is_never_judged_out_of_fold() -> None:
    # fold models learn from fewer labels than the challenger: no evidence to turn it away
    previous = champion_of([1, 2], [5], dict.fromkeys([1, 2, 5], "Positive"))
    train = held(1, 2, 10, 11, 12)
    found = plan_comparison("v1", previous, SENTIMENT, WARM_FROM_V1, held(5), train, min_tasks=30)
    assert isinstance(found, ComparisonPlan) and found.not_superset is None
    assert found.new == [] and found.no_out_of_fold is None


@pytest.mark.parametrize(
    ("champion_trained_on", "plan", "scored_out_of_fold"),
    [
        (4, StartPlan(FULL, "asked"), True),  # folds of 6 learn from 4: as many as it had
        (5, StartPlan(FULL, "asked"), False),  # 4 < 5: they would lose for want of labels
        (5, WARM_FROM_V1, True),  # they start from the champion's weights
        (5, StartPlan(WARM, "", "v0"), False),  # from another version: no such head start
    ],
)
def test_out_of_fold_answers_only_from_fold_models_that_learnt_as_much_as_the_champion(
    champion_trained_on: int, plan: StartPlan, scored_out_of_fold: bool
) -> None:
    trained_on = list(range(1, champion_trained_on + 1))
    labels = {**dict.fromkeys([*trained_on, 50], "Positive"), 1: "Negative"}  # not a superset
    previous = champion_of(trained_on, [50], labels)
    train = held(*trained_on, *range(10, 16 - champion_trained_on))
    assert len(train) == 6
    found = plan_comparison("v1", previous, SENTIMENT, plan, held(50), train, min_tasks=30)
    assert isinstance(found, ComparisonPlan)
    assert bool(found.new) == scored_out_of_fold
    if scored_out_of_fold:
        assert found.no_out_of_fold is None
    else:
        assert found.no_out_of_fold == (
            "the tasks annotated since it are not scored out of fold: its fold models would "
            f"learn from 4 annotations, fewer than the {champion_trained_on} the current "
            "version trained on"
        )


@pytest.mark.parametrize(
    ("now", "plan", "gap"),
    [
        (held(1, 2, 3), WARM_FROM_V1, None),  # more labels, none changed
        (held(1, 2), StartPlan(FULL, "asked"), None),  # a full start on the same labels
        ({**held(1, 2), 2: "Negative"}, WARM_FROM_V1, "the labels of 1 task "),
        (held(1), WARM_FROM_V1, "1 annotation it trained on was removed"),
        (held(1, 2), StartPlan(WARM, "", "v0"), "warm-started from v0, not from v1"),
    ],
)
def test_superset_gap(now: dict[int, str], plan: StartPlan, gap: str | None) -> None:
    previous = champion_of([1, 2], [], {1: "Positive", 2: "Positive"})
    found = superset_gap("v1", previous, plan, now).reason
    assert found is None if gap is None else gap in (found or "")


def test_a_record_from_before_targets_were_kept_tells_only_removals() -> None:
    previous = trained([1, 2])  # no targets
    assert superset_gap("v1", previous, WARM_FROM_V1, held(1, 2, key="Negative")).reason is None
    assert "removed" in (superset_gap("v1", previous, WARM_FROM_V1, held(1)).reason or "")


@pytest.mark.parametrize(
    ("changed", "removed", "start", "corrections"),
    [
        (1, 0, WARM_FROM_V1, True),  # one label of ten corrected
        (1, 1, WARM_FROM_V1, True),  # a fifth: still corrections
        (2, 1, WARM_FROM_V1, False),  # three of ten: relabelling
        (0, 0, StartPlan(WARM, "", "v0"), False),  # another version's weights
    ],
)
def test_a_few_changed_labels_are_corrections(  # type: ignore[no-untyped-def]
    changed, removed, start, corrections
) -> None:
    ten = list(range(1, 11))
    previous = champion_of(ten, [], dict.fromkeys(ten, "Positive"))
    now = {**held(*ten[removed:]), **held(*ten[removed : removed + changed], key="Negative")}
    gap = superset_gap("v1", previous, start, now)
    assert gap.reason is not None and gap.corrections(0.2) is corrections
    plan = plan_comparison("v1", previous, SENTIMENT, start, held(20), now, corrections_share=0.2)
    assert isinstance(plan, ComparisonPlan)
    assert (plan.corrections is not None, plan.not_superset is None) == (corrections,) * 2


def difference(only_new: int, only_old: int, same: int = 20):  # type: ignore[no-untyped-def]
    """Challenger and champion on hand-made tasks: `only_new` tasks only the challenger gets
    right, `only_old` only the champion, `same` both."""
    gold = [["Positive"]] * (only_new + only_old + same)
    new = [["Positive"]] * only_new + [["Negative"]] * only_old + [["Positive"]] * same
    old = [["Negative"]] * only_new + [["Positive"]] * only_old + [["Positive"]] * same
    labels = ["Positive", "Negative"]
    return paired_difference(
        task_counts(new, gold, labels), task_counts(old, gold, labels), "macro_f1", 0.9
    )


@pytest.mark.parametrize(
    ("only_new", "only_old", "same", "superset", "accepted", "phrase"),
    [
        (0, 0, 20, True, True, "does not say the current version is better"),  # a tie serves
        (1, 3, 6, True, True, "does not say"),  # on 10 tasks, 2 more for the champion is noise
        (0, 8, 42, True, False, "the current version is better"),  # on 50 tasks, clear
        (30, 0, 470, True, True, "and it is better"),
        (0, 40, 460, True, False, "the current version is better"),  # 500 tasks, 8 points
        (0, 0, 200, False, True, "shown at least as good"),  # relabelled, same answers
        (0, 0, 20, False, False, "inconclusive"),  # agreeing on 20 tasks says little
        (8, 0, 92, False, True, "shown at least as good"),
        (1, 0, 9, False, False, "rejected (inconclusive)"),  # one task better of ten
        (0, 1, 9, False, False, "rejected (inconclusive)"),  # one task worse of ten
        (3, 3, 14, False, False, "rejected (inconclusive)"),  # a wash on 20 is no evidence
        (0, 10, 10, False, False, "rejected (worse)"),
    ],
)
def test_decide(  # type: ignore[no-untyped-def]
    only_new, only_old, same, superset, accepted, phrase
) -> None:
    comparison = Comparison(
        difference(only_new, only_old, same),
        None if superset else "the labels of 3 tasks the current version trained on changed",
        held_out=only_new + only_old + same,
    )
    decision = decide(comparison, tolerance=0.02, confidence=0.9, no_comparison=None)
    assert decision.accepted is accepted and phrase in decision.reason, decision.reason
    assert decision.compared_tasks == only_new + only_old + same
    evidence = decision.extra["evidence"]
    assert (evidence["challenger_only"], evidence["champion_only"]) == (only_new, only_old)
    assert decision.extra["rule"] == ("superset" if superset else "at-least-as-good")
    if not accepted and not superset:
        assert "POST /versions/<this version>/activate" in decision.reason


def test_decide_without_comparison_and_without_tasks() -> None:
    first = decide(None, 0.02, 0.9, "the first version of the project")
    assert first.accepted and first.reason.endswith("the first version of the project")
    left = {"the current version trained on": 4}
    grown = decide(Comparison(None, None, left_out=left), 0.02, 0.9, None)
    assert grown.accepted and "no task is left to compare" in grown.reason
    corrected = decide(Comparison(None, None, "the labels of 1 task ... changed"), 0.02, 0.9, None)
    assert corrected.accepted and "but corrections (the labels of 1 task" in corrected.reason
    assert "Left out: 4 tasks the current version trained on" in grown.reason
    shrunk = decide(Comparison(None, "12 annotations it trained on were removed"), 0.02, 0.9, None)
    assert not shrunk.accepted and "12 annotations it trained on were removed" in shrunk.reason


def test_a_collapsed_champion_is_reported_as_relabelling() -> None:
    comparison = Comparison(
        difference(5, 0, 5),
        "the labels of 5 tasks the current version trained on changed",
        changed=(1, 2, 3),
        champion_then=0.86,
        champion_now=0.25,
    )
    decision = decide(comparison, 0.02, 0.9, None)
    assert comparison.relabelled
    # a lead of 5 tasks to none would show it at least as good, were the yardstick steady
    assert not decision.accepted and decision.reason.startswith("rejected (relabelling)")
    assert "fell from 0.860 to 0.250 with today's labels (3 tasks relabelled)" in decision.reason
    assert decision.extra["evidence"]["relabelling_suspected"] is True
    superset = decide(replace(comparison, not_superset=None), 0.02, 0.9, None)
    assert superset.accepted  # its training labels did not move: only the held-out ones did
    assert "a sign of relabelling, not of a better challenger" in superset.reason
    steady = Comparison(difference(1, 1), None, changed=(1,), champion_then=0.8, champion_now=0.75)
    assert not steady.relabelled


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
        (
            9,
            500,
            True,
            False,
            "9 annotation changes since the last run; the next starts at 10 changes",
        ),
        (10, 500, True, True, "10 annotation changes since the last run"),
    ],
)
def test_training_triggers(
    changes: int, annotated: int | None, has_version: bool, train: bool, reason: str
) -> None:
    judged = verdict(changes, annotated, has_version, 10, 10)
    assert judged.train is train and reason in judged.reason
