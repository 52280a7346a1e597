"""Label Studio tasks to training examples: latest annotation, counted skips, spans."""

from __future__ import annotations

from pathlib import Path

from backend.label_config import parse_label_config
from backend.training.examples import collect_examples
from model.spans import Span

CONFIGS = Path(__file__).resolve().parents[1] / "label_config"
MIXED = parse_label_config((CONFIGS / "sentiment_and_entities.xml").read_text())


def choice(label: str) -> dict:
    return {
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [label]},
    }


def region(start: int, end: int, label: str, text: str = "") -> dict:
    return {
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text, "labels": [label]},
    }


def annotation(result: list, id: int, updated: str, cancelled: bool = False) -> dict:
    return {"id": id, "result": result, "updated_at": updated, "was_cancelled": cancelled}


def test_mixed_config_has_a_choices_and_a_labels_control() -> None:
    assert [(c.kind, c.name, c.labels) for c in MIXED.controls] == [
        ("labels", "entities", ("PRODUCT", "BRAND")),
        ("choices", "sentiment", ("Positive", "Negative")),
    ]


def test_each_control_takes_its_own_part_of_the_latest_annotation() -> None:
    text = "Acme Rocket is great"
    tasks = [
        {
            "id": 1,
            "data": {"text": text},
            "annotations": [
                annotation([choice("Negative")], 10, "2026-01-01T10:00:00"),
                annotation(
                    [
                        choice("Positive"),
                        region(0, 4, "BRAND", "Acme"),
                        region(5, 11, "PRODUCT", "Rocket"),
                    ],
                    11,
                    "2026-01-02T10:00:00",
                ),
                annotation([choice("Negative")], 12, "2026-01-03T10:00:00", cancelled=True),
            ],
        },
        {
            "id": 2,
            "data": {"text": "no entity here"},
            "annotations": [annotation([choice("Negative")], 13, "2026-01-01T10:00:00")],
        },
        {
            "id": 3,
            "data": {"text": "skipped"},
            "annotations": [annotation([], 14, "2026-01-01T10:00:00", cancelled=True)],
        },
        {
            "id": 4,
            "data": {"other": "no text field"},
            "annotations": [annotation([choice("Positive")], 15, "2026-01-01T10:00:00")],
        },
        {
            "id": 5,
            "data": {"text": "odd"},
            "annotations": [annotation([choice("Maybe")], 16, "2026-01-01T10:00:00")],
        },
    ]
    spans = collect_examples(tasks, MIXED.control("entities"))
    assert spans.task_ids == [1, 2, 5]
    assert spans.targets[0] == [Span(0, 4, "BRAND", "Acme"), Span(5, 11, "PRODUCT", "Rocket")]
    assert spans.targets[1] == [] and spans.targets[2] == []  # annotated: no entity in it
    choices = collect_examples(tasks, MIXED.control("sentiment"))
    assert choices.task_ids == [1, 2] and choices.targets == [["Positive"], ["Negative"]]
    assert dict(choices.skipped) == {
        "no annotation that was not cancelled": 1,
        "task has no text in the field of this control": 1,
        "label not in the label config": 1,
    }
