"""The held-out share: stable as a project grows, never trained on, scored in the record."""

from __future__ import annotations

from collections import Counter

from redis import Redis

from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, task
from backend.training.examples import Examples
from backend.training.holdout import is_held_out, split_examples
from backend.training.run import run_training
from model.evaluation import evaluate_choices
from tests.conftest import SENTIMENT_CONFIG
from tests.texts import synthetic_reviews


def examples(task_ids: range) -> Examples:
    part = Examples("c")
    part.task_ids = list(task_ids)
    part.texts = [f"text {i}" for i in task_ids]
    part.targets = [["A"] for _ in task_ids]
    return part


def test_the_split_is_a_stable_share_of_tasks() -> None:
    small, grown = examples(range(1, 201)), examples(range(1, 2001))
    train, held = split_examples(grown, project=3, share=0.1, minimum=20)
    assert held is not None and 150 <= len(held) <= 250
    assert set(train.task_ids).isdisjoint(held.task_ids)
    assert len(train) + len(held) == 2000
    _, held_small = split_examples(small, project=3, share=0.1, minimum=20)
    assert held_small is not None and set(held_small.task_ids) <= set(held.task_ids)
    assert held.texts == [f"text {i}" for i in held.task_ids]
    # another project draws other tasks
    assert {t for t in range(1, 2001) if is_held_out(4, t, 0.1)} != set(held.task_ids)


def test_no_held_out_part_below_the_minimum() -> None:
    train, held = split_examples(examples(range(1, 20)), project=3, share=0.1, minimum=20)
    assert held is None and len(train) == 19


def test_choice_scores() -> None:
    scores = evaluate_choices([["A"], ["B"], ["A"], ["A", "B"]], [["A"], ["A"], ["A"], ["B"]])
    assert scores.accuracy == 0.5
    assert (scores.per_label["A"].true_positives, scores.per_label["A"].predicted) == (2, 3)
    assert scores.per_label["A"].annotated == 3
    assert round(scores.per_label["B"].f1, 4) == round(2 * 1 / (2 + 1), 4)
    assert scores.macro_f1 == (scores.per_label["A"].f1 + scores.per_label["B"].f1) / 2


def test_each_version_records_its_held_out_scores(
    client,
    settings: Settings,
    redis: Redis,  # type: ignore[no-untyped-def]
) -> None:
    rows = synthetic_reviews(80, seed=51)
    for index, (text, label) in enumerate(rows, start=1):
        body = annotation_webhook(
            12, task(text, task_id=index), [label], label_config=SENTIMENT_CONFIG
        )
        client.post("/webhook", json=body)
    version = run_training(settings, redis, 12)["version"]
    store = client.application.extensions["lsbert"].store
    (control,) = store.read_raw_version(12, version)["controls"]
    held = control["held_out"]
    assert held["task_ids"] and set(held["task_ids"]).isdisjoint(control["task_ids"])
    assert len(held["task_ids"]) + control["examples"] == 80
    assert held["metric"] == "macro_f1" and 0.8 <= held["value"] <= 1
    truth = Counter(rows[i - 1][1] for i in held["task_ids"])
    assert {k: v["support"] for k, v in held["per_label"].items()} == dict(truth)
