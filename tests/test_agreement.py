"""The agreement figures (backend.quality.agreement, between, records) on hand-made Label
Studio records: outcomes with and without recorded origins, spans that overlap partly,
single- and multi-annotator tasks, ties, and the minimum count."""

from __future__ import annotations

import pytest

from backend.label_config import parse_label_config
from backend.quality.agreement import (
    ACCEPTED,
    CHANGED,
    REPLACED,
    control_agreement,
    entity_outcome,
    outcome,
)
from backend.quality.between import between_annotators, fleiss_kappa
from backend.quality.records import annotated, predictions_by_id
from backend.quality.report import agreement_of
from backend.training.project_data import ProjectData
from tests.conftest import REPO, SENTIMENT_CONFIG

NER_CONFIG = (REPO / "label_config" / "named_entities.xml").read_text()
SENTIMENT = parse_label_config(SENTIMENT_CONFIG).controls[0]
ENTITIES = parse_label_config(NER_CONFIG).controls[0]


def choice(label: str, origin: str | None = None) -> dict:
    item = {"from_name": "sentiment", "to_name": "text", "type": "choices"}
    item["value"] = {"choices": [label]}
    return {**item, "origin": origin} if origin else item


def span(start: int, end: int, label: str, origin: str | None = None) -> dict:
    item = {"from_name": "label", "to_name": "text", "type": "labels"}
    item["value"] = {"start": start, "end": end, "labels": [label]}
    return {**item, "origin": origin} if origin else item


def annotation(ident: int, result: list, who: int = 1, parent: int | None = None, **more) -> dict:
    return {
        "id": ident,
        "completed_by": who,
        "result": result,
        "was_cancelled": False,
        "parent_prediction": parent,
        "created_at": f"2026-01-01T00:00:{ident:02d}Z",
        **more,
    }


def prediction(ident: int, task: int, result: list, version: str = "v1-20260101T000000") -> dict:
    return {"id": ident, "task": task, "result": result, "model_version": version, "score": 0.9}


def test_outcomes_follow_the_answer_then_the_recorded_origins() -> None:
    positive, negative = frozenset({"Positive"}), frozenset({"Negative"})
    assert outcome(positive, positive, ("manual",)) == ACCEPTED  # same answer, whatever origin
    assert outcome(negative, positive, ("prediction-changed",)) == CHANGED
    assert outcome(negative, positive, ("prediction",)) == CHANGED  # edited, origin kept
    assert outcome(negative, positive, ("manual",)) == REPLACED
    assert outcome(negative, positive, ()) == REPLACED  # no origin: nothing in common
    both = frozenset({"A", "B"})
    assert outcome(both, frozenset({"A"}), ()) == CHANGED  # no origin: a choice in common


def test_a_predicted_entity_is_kept_changed_when_overlapped_or_gone() -> None:
    annotated_now = frozenset({(0, 5, "PER"), (10, 20, "ORG")})
    assert entity_outcome((0, 5, "PER"), annotated_now) == ACCEPTED
    assert entity_outcome((0, 5, "ORG"), annotated_now) == CHANGED  # another label
    assert entity_outcome((15, 25, "ORG"), annotated_now) == CHANGED  # partly overlapping
    assert entity_outcome((20, 25, "ORG"), annotated_now) == REPLACED  # touching is not overlap


def choice_project() -> tuple[list[dict], list[dict]]:
    """Four tasks annotated from predictions of v1 (accepted, changed, replaced, accepted by
    annotator 2), one from v2, one annotated by hand, one cancelled."""
    v2 = "v2-20260102T000000"
    tasks = [
        {"id": 1, "annotations": [annotation(11, [choice("Positive", "prediction")], parent=101)]},
        {
            "id": 2,
            "annotations": [annotation(12, [choice("Negative", "prediction-changed")], parent=102)],
        },
        {"id": 3, "annotations": [annotation(13, [choice("Negative", "manual")], parent=103)]},
        {"id": 4, "annotations": [annotation(14, [choice("Negative")], who=2, parent=104)]},
        {"id": 5, "annotations": [annotation(15, [choice("Positive")], parent=105)]},
        {"id": 6, "annotations": [annotation(16, [choice("Positive")])]},
        {
            "id": 7,
            "annotations": [annotation(17, [choice("Positive")], parent=107, was_cancelled=True)],
        },
    ]
    predictions = [
        prediction(101, 1, [choice("Positive")]),
        prediction(102, 2, [choice("Positive")]),
        prediction(103, 3, [choice("Positive")]),
        prediction(104, 4, [choice("Negative")]),
        prediction(105, 5, [choice("Negative")], v2),
        prediction(107, 7, [choice("Positive")]),
    ]
    return tasks, predictions


def test_a_versions_outcomes_by_annotator_and_label_and_its_precision_and_recall() -> None:
    tasks, predictions = choice_project()
    rows = annotated(tasks, [SENTIMENT])
    assert {r.task for r in rows} == {1, 2, 3, 4, 5, 6}  # the cancelled one is not counted
    figures = control_agreement(
        rows, predictions_by_id(predictions, tasks, [SENTIMENT]), SENTIMENT, 1
    )
    v1 = figures["v1-20260101T000000"]
    assert v1["count"] == 4
    assert [v1[o]["count"] for o in (ACCEPTED, CHANGED, REPLACED)] == [2, 1, 1]
    assert v1[ACCEPTED]["share"] == 0.5
    assert v1["annotators"]["2"][ACCEPTED]["count"] == 1 and v1["annotators"]["1"]["count"] == 3
    assert v1["labels"]["Positive"]["count"] == 3 and v1["labels"]["Negative"]["count"] == 1
    rates = v1["precision_recall"]["per_label"]
    # v1 said Positive on tasks 1-3 (right once) and Negative on task 4 (right)
    assert rates["Positive"] == {
        "precision": 0.3333,
        "recall": 1.0,
        "hits": 1,
        "predicted": 3,
        "annotated": 1,
    }
    assert rates["Negative"]["precision"] == 1.0 and rates["Negative"]["recall"] == pytest.approx(
        0.3333
    )
    v2 = figures["v2-20260102T000000"]
    assert v2["count"] == 1 and v2[REPLACED]["count"] == 1  # no origin, nothing in common


def test_no_figure_below_the_minimum_count() -> None:
    tasks, predictions = choice_project()
    rows = annotated(tasks, [SENTIMENT])
    v1 = control_agreement(rows, predictions_by_id(predictions, tasks, [SENTIMENT]), SENTIMENT, 4)[
        "v1-20260101T000000"
    ]
    assert v1[ACCEPTED] == {"count": 2, "share": 0.5}  # 4 annotations: shown
    assert v1["annotators"]["1"][ACCEPTED]["share"] is None  # 3 annotations: not shown
    assert v1["precision_recall"]["per_label"]["Positive"]["precision"] is None  # 3 predicted


def test_the_prediction_shown_stands_in_where_no_parent_was_recorded() -> None:
    shown = prediction(201, 8, [choice("Negative")])
    tasks = [{"id": 8, "annotations": [annotation(18, [choice("Negative")], prediction=shown)]}]
    rows = annotated(tasks, [SENTIMENT])
    figures = control_agreement(rows, predictions_by_id([], tasks, [SENTIMENT]), SENTIMENT, 1)
    assert figures["v1-20260101T000000"][ACCEPTED]["count"] == 1


def test_span_outcomes_count_whole_annotations_and_each_entity() -> None:
    tasks = [
        {
            "id": 1,
            "data": {"text": "Alice Smith met Bob in Paris"},
            "annotations": [
                annotation(
                    21,
                    [span(0, 11, "PER", "prediction"), span(16, 19, "ORG", "prediction-changed")],
                    parent=301,
                )
            ],
        },
        {"id": 2, "annotations": [annotation(22, [], parent=302)]},  # every entity removed
    ]
    predictions = [
        prediction(301, 1, [span(0, 11, "PER"), span(16, 19, "PER"), span(23, 28, "LOC")]),
        prediction(302, 2, [span(0, 4, "ORG")]),
    ]
    rows = annotated(tasks, [ENTITIES])
    v1 = control_agreement(rows, predictions_by_id(predictions, tasks, [ENTITIES]), ENTITIES, 1)[
        "v1-20260101T000000"
    ]
    assert [v1[o]["count"] for o in (ACCEPTED, CHANGED, REPLACED)] == [0, 1, 1]
    per = v1["labels"]
    assert per["PER"][ACCEPTED]["count"] == 1 and per["PER"][CHANGED]["count"] == 1
    assert per["LOC"][REPLACED]["count"] == 1 and per["ORG"][REPLACED]["count"] == 1
    overall = v1["precision_recall"]["overall"]
    assert (overall["hits"], overall["predicted"], overall["annotated"]) == (1, 4, 2)


def test_pairwise_agreement_and_kappa_between_annotators() -> None:
    tasks = [
        {
            "id": 1,
            "annotations": [
                annotation(1, [choice("Positive")], 1),
                annotation(2, [choice("Positive")], 2),
            ],
        },
        {
            "id": 2,
            "annotations": [
                annotation(3, [choice("Positive")], 1),
                annotation(4, [choice("Negative")], 2),
            ],
        },
        {
            "id": 3,
            "annotations": [
                annotation(5, [choice("Negative")], 1),
                annotation(6, [choice("Negative")], 2),
                annotation(7, [choice("Negative")], 3),
            ],
        },
        {"id": 4, "annotations": [annotation(8, [choice("Positive")], 1)]},  # one annotator
        # annotator 1 twice: their newer answer counts once
        {
            "id": 5,
            "annotations": [
                annotation(9, [choice("Negative")], 1),
                annotation(10, [choice("Positive")], 1),
                annotation(11, [choice("Positive")], 2),
            ],
        },
    ]
    found = between_annotators(annotated(tasks, [SENTIMENT]), SENTIMENT, 1)
    assert found["tasks"] == 4 and found["pairs"] == 1 + 1 + 3 + 1
    assert found["agreement"] == pytest.approx(5 / 6, abs=1e-4)
    assert found["annotators"]["3"] == {
        "pairs": 2,
        "agreement": 1.0,
        "per_label": {"Negative": {"pairs": 2, "specific_agreement": 1.0}},
    }
    assert found["per_label"]["Positive"]["specific_agreement"] == pytest.approx(
        2 * 2 / (3 + 2), abs=1e-4
    )
    # by hand: the tasks' agreement 1, 0, 1, 1 -> 0.75; of 9 answers 5 P and 4 N -> chance
    # (5/9)^2 + (4/9)^2 = 41/81
    assert found["fleiss_kappa"] == pytest.approx((0.75 - 41 / 81) / (1 - 41 / 81), abs=1e-4)


def test_kappa_of_perfect_and_of_chance_agreement() -> None:
    same = [
        {"a": frozenset({"P"}), "b": frozenset({"P"})},
        {"a": frozenset({"N"}), "b": frozenset({"N"})},
    ]
    assert fleiss_kappa(same, ["P", "N"]) == 1.0
    crossed = [
        {"a": frozenset({"P"}), "b": frozenset({"N"})},
        {"a": frozenset({"N"}), "b": frozenset({"P"})},
    ]
    assert fleiss_kappa(crossed, ["P", "N"]) == -1.0
    assert fleiss_kappa([{"a": frozenset({"P"}), "b": frozenset({"P"})}], ["P", "N"]) is None


def test_pairwise_entity_f1_with_partly_overlapping_spans() -> None:
    tasks = [
        {
            "id": 1,
            "annotations": [
                annotation(1, [span(0, 11, "PER"), span(23, 28, "LOC")], 1),
                annotation(2, [span(0, 5, "PER"), span(23, 28, "LOC")], 2),  # a boundary apart
            ],
        },
        {"id": 2, "annotations": [annotation(3, [], 1), annotation(4, [], 2)]},  # both: none
    ]
    found = between_annotators(annotated(tasks, [ENTITIES]), ENTITIES, 1)
    assert found["tasks"] == 2 and found["pairs"] == 2 and found["entities"] == 4
    assert found["entity_f1"] == 0.5  # 2 x 1 common over 4 marked
    assert found["per_label"]["PER"] == {"entities": 2, "entity_f1": 0.0}
    assert found["per_label"]["LOC"] == {"entities": 2, "entity_f1": 1.0}


def test_the_report_lists_each_annotation_made_from_a_prediction_with_its_outcome() -> None:
    tasks, predictions = choice_project()
    data = ProjectData(SENTIMENT_CONFIG, tasks, "test", predictions=predictions)
    report = agreement_of(data, 1)
    assert [(a["task"], a["outcome"]) for a in report["annotations"]] == [
        (1, ACCEPTED),
        (2, CHANGED),
        (3, REPLACED),
        (4, ACCEPTED),
        (5, REPLACED),
    ]
    assert report["controls"]["sentiment"]["between_annotators"]["tasks"] == 0
