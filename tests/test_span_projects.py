"""Span projects through the backend: `<Labels>` and `<Choices>` on one text, trained from
webhook annotations, answered by one /predict with exact character offsets."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from backend.settings import Settings
from backend.tools.payloads import predict_body, task
from backend.training.run import run_training
from tests.conftest import REPO
from tests.texts import synthetic_product_reviews

MIXED_CONFIG = (REPO / "label_config" / "sentiment_and_entities.xml").read_text()
PROJECT = 21


def annotation_body(text: str, spans: list, sentiment: str) -> dict:
    result = [
        {
            "from_name": "entities",
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]},
        }
        for s, e, label in spans
    ]
    result.append(
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [sentiment]},
        }
    )
    body = task(text)
    return {
        "action": "ANNOTATION_CREATED",
        "project": {"id": PROJECT, "label_config": MIXED_CONFIG},
        "task": body,
        "annotation": {"id": body["id"], "result": result},
    }


def test_mixed_project_predicts_choices_and_exact_spans(
    client,
    settings: Settings,
    redis: Redis,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    for text, spans, sentiment in synthetic_product_reviews(60, seed=41):
        assert client.post("/webhook", json=annotation_body(text, spans, sentiment)).json[
            "payload_stored"
        ]
    trained = run_training(settings, redis, PROJECT)
    assert set(trained["controls"]) == {"entities", "sentiment"}
    record = client.application.extensions["lsbert"].store.read_raw_version(
        PROJECT, trained["version"]
    )
    kinds = {c["control"]: c["kind"] for c in record["controls"]}
    assert kinds == {"entities": "labels", "sentiment": "choices"}
    spans_record = next(c for c in record["controls"] if c["kind"] == "labels")
    held = spans_record["held_out"]
    assert spans_record["span_conversion"]["used"] == 2 * spans_record["examples"]
    assert len(held["task_ids"]) + spans_record["examples"] == 60
    assert held["metric"] == "entity_f1" and 0.5 <= held["value"] <= 1
    assert set(held["per_label"]) <= {"BRAND", "PRODUCT"}

    texts = ["the Velox Pebble was really superb", "  the\tQuanta  Orbit 🙂 was really dull"]
    body = predict_body(PROJECT, [task(t) for t in texts] + [task(None)], MIXED_CONFIG)
    items = client.post("/predict", json=body).json["results"]
    assert len(items) == 3 and items[2]["result"] == []
    for text, item in zip(texts, items, strict=False):
        spans = [r for r in item["result"] if r["type"] == "labels"]
        choices = [r for r in item["result"] if r["type"] == "choices"]
        assert len(choices) == 1 and choices[0]["from_name"] == "sentiment"
        for span in spans:
            value = span["value"]
            assert text[value["start"] : value["end"]] == value["text"]
            assert value["labels"][0] in ("BRAND", "PRODUCT") and 0 < span["score"] <= 1
        found = {(r["value"]["text"], r["value"]["labels"][0]) for r in spans}
        brand, product = text.split()[1], text.split()[2]
        assert found == {(brand, "BRAND"), (product, "PRODUCT")}, (text, found)
        assert 0 < item["score"] <= 1
