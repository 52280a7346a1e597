"""The suspect-label queue of each kind of control on the tiny BERT's untuned encoder: a
wrong entity label and a missing topic each top their queue, with what the model
suggests instead; the report ranks both controls of one text together."""

from __future__ import annotations

import random
from pathlib import Path

from backend.label_config import parse_label_config
from backend.quality.suspects import control_queue, decoded, ranked, word_classes
from backend.tools.payloads import choices
from model.spans import Span
from tests.conftest import MULTI_CONFIG, REPO
from tests.texts import synthetic_product_reviews

MIXED = parse_label_config((REPO / "label_config" / "sentiment_and_entities.xml").read_text())
TOPICS = parse_label_config(MULTI_CONFIG).controls[0]
WORDS = {"Politics": "election", "Business": "market", "Sports": "match", "Technology": "software"}


def region(start: int, end: int, label: str) -> dict:
    value = {"start": start, "end": end, "labels": [label]}
    return {"from_name": "entities", "to_name": "text", "type": "labels", "value": value}


def task(ident: int, text: str, result: list[dict]) -> dict:
    return {
        "id": ident,
        "data": {"text": text},
        "annotations": [{"id": 500 + ident, "result": result}],
    }


def test_a_wrong_entity_label_tops_the_span_queue(tiny_model: Path) -> None:
    entities = next(c for c in MIXED.controls if c.name == "entities")
    rows = synthetic_product_reviews(60)
    tasks = []
    for i, (text, spans, _) in enumerate(rows, 1):
        if i == 9:  # the brand labelled as a product
            spans = [(spans[0][0], spans[0][1], "PRODUCT"), spans[1]]
        tasks.append(task(i, text, [region(*s) for s in spans]))
    queue = sorted(
        control_queue(tasks, entities, str(tiny_model), None, "cpu"), key=lambda s: -s.score
    )
    top = queue[0]
    brand = rows[8][1][0]
    assert (top.task, top.annotation) == (9, 509)
    assert top.given == [
        {
            "start": brand[0],
            "end": brand[1],
            "label": "PRODUCT",
            "text": rows[8][0][brand[0] : brand[1]],
        }
    ]
    assert [s["label"] for s in top.suggested] == ["BRAND"]
    assert all(0 <= s.score <= 1 for s in queue) and len(queue) == 60


def test_a_missing_topic_tops_the_multiple_choice_queue(tiny_model: Path) -> None:
    rng = random.Random(3)
    tasks = []
    for i in range(1, 61):
        topics = sorted(rng.sample(sorted(WORDS), 2))
        text = f"the {WORDS[topics[0]]} and the {WORDS[topics[1]]} today"
        given = topics[:1] if i == 17 else topics  # one topic forgotten
        tasks.append(task(i, text, [{**choices(given, "topics", "text")}]))
    queue = sorted(
        control_queue(tasks, TOPICS, str(tiny_model), None, "cpu"), key=lambda s: -s.score
    )
    assert queue[0].task == 17 and len(queue[0].given) == 1
    assert set(queue[0].given) < set(queue[0].suggested)


def test_words_classes_and_runs_of_words_back_to_entities() -> None:
    labels = ("PER", "LOC")
    offsets = [(0, 5), (6, 11), (12, 15), (16, 21)]
    classes = word_classes(offsets, [Span(0, 11, "PER"), Span(16, 21, "LOC")], labels)
    assert classes == [1, 1, 0, 2]
    assert decoded(offsets, classes, labels) == {(0, 11, "PER"), (16, 21, "LOC")}
    assert decoded(offsets, [1, 2, 2, 0], labels) == {(0, 5, "PER"), (6, 15, "LOC")}


def test_the_queue_ranks_every_control_together_and_marks_only_the_top_share() -> None:
    from backend.quality.suspects import Scored

    scored = [
        Scored(t, t, c, [], [], score, score > 0.5, "")
        for t, c, score in [
            (1, "a", 0.9),
            (2, "a", 0.6),
            (3, "b", 0.95),
            (4, "a", 0.1),
            (5, "b", 0.7),
        ]
    ]
    listed, suspects = ranked(scored, 0.4)  # 5 tasks: the top 2 may be marked
    assert [(e["task"], e["suspect"]) for e in listed] == [
        (3, True),
        (1, True),
        (5, False),
        (2, False),
        (4, False),
    ]
    assert [s.task for s in suspects] == [3, 1]
