"""Pseudo-labels from the champion on the project's unlabelled tasks: which are chosen, how
many, and that a run records them; with a stand-in teacher, the tiny BERT, and MiniLM."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from backend.label_config import parse_label_config
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import choices
from backend.training.examples import collect_examples
from backend.training.project_data import ProjectData
from backend.training.pseudo_labels import pseudo_labels, unlabelled_texts
from backend.training.run import train_version
from tests.conftest import MULTI_CONFIG, SENTIMENT_CONFIG
from tests.texts import sample, sst2, synthetic_reviews

CONTROL = parse_label_config(SENTIMENT_CONFIG).controls[0]


class Sure:
    """A teacher sure of a text as the number ending it says, in hundredths: `Positive`
    from 50 on, `Negative` below, the confidence the distance from 50 (doubled)."""

    def predict_proba(self, texts: list[str]) -> list[list[float]]:
        rows = []
        for text in texts:
            n = int(text.split()[-1]) / 100
            rows.append([n, 1 - n])
        return rows

    def decide(self, row: list[float]) -> SimpleNamespace:
        best = 0 if row[0] >= row[1] else 1
        return SimpleNamespace(labels=(CONTROL.labels[best],), score=max(row))


def task(task_id: int, text: str, label: str | None = None) -> dict:
    annotations = [{"id": task_id, "result": [choices([label])]}] if label else []
    return {"id": task_id, "data": {"text": text}, "annotations": annotations}


def test_the_surest_answers_above_the_threshold_join_in_the_annotations_shares() -> None:
    train = collect_examples(
        [task(i, f"a {i}", "Positive" if i < 3 else "Negative") for i in range(1, 5)], CONTROL
    )  # two of each
    pool = [f"text {n}" for n in (99, 98, 97, 95, 60, 40, 5, 3, 2)]
    settings = Settings(pseudo_label_threshold=0.9, pseudo_label_ratio=1.0)
    found = pseudo_labels(Sure(), CONTROL, pool, train, settings, "v3")
    # four at most (as many as the annotations), two per label, the surest first
    assert found.texts == ["text 99", "text 98", "text 2", "text 3"]
    assert found.targets == [["Positive"], ["Positive"], ["Negative"], ["Negative"]]
    assert found.record == {
        "teacher": "v3", "pool": 9, "above_threshold": 7, "used": 4, "threshold": 0.9,
        "weight": settings.pseudo_label_weight, "label_counts": {"Positive": 2, "Negative": 2},
    }  # fmt: skip
    stricter = Settings(pseudo_label_threshold=0.975)
    strict = pseudo_labels(Sure(), CONTROL, pool, train, stricter, "v3")
    assert strict.texts == ["text 99", "text 98", "text 2"]  # 0.97 falls short
    none = pseudo_labels(Sure(), CONTROL, pool, train, Settings(pseudo_label_ratio=0.0), "v3")
    assert none.texts == [] and none.record["used"] == 0


def test_multiple_choice_and_spans_learn_from_annotations_alone() -> None:
    multi = parse_label_config(MULTI_CONFIG).controls[0]
    found = pseudo_labels(Sure(), multi, ["x 99"], collect_examples([], multi), Settings(), "v1")
    assert found.texts == [] and "single-choice classifiers only" in found.record["reason"]


def test_the_pool_is_a_seeded_sample_of_texts_without_annotations() -> None:
    tasks = [task(i, f"text {i}") for i in range(50)] + [{"id": 99, "data": {}}]
    first = unlabelled_texts(tasks, CONTROL, cap=10, seed=42)
    assert len(first) == 10 and first == unlabelled_texts(tasks, CONTROL, cap=10, seed=42)
    assert first != unlabelled_texts(tasks, CONTROL, cap=10, seed=7)
    assert len(unlabelled_texts(tasks, CONTROL, cap=100, seed=42)) == 50  # no text, no entry


def reviews(count: int, seed: int, first_id: int) -> list[dict]:
    rows = synthetic_reviews(count, seed)
    return [task(first_id + i, text, label) for i, (text, label) in enumerate(rows)]


def test_a_run_with_unlabelled_tasks_learns_from_the_champions_surest_answers(
    tiny_model: Path, tmp_path: Path
) -> None:
    settings = Settings(
        base_model=str(tiny_model), train_epochs=10, train_learning_rate=1e-3, device="cpu",
        inference_runtime="torch", cross_validation_folds=0, pseudo_label_threshold=0.6,
        semi_supervised=True,
    )  # fmt: skip
    store, annotated = ModelStore(tmp_path), reviews(40, 1, 1)
    unlabelled = [{"id": t["id"], "data": t["data"]} for t in reviews(200, 2, 1000)]
    first = train_version(store, 1, ProjectData(SENTIMENT_CONFIG, annotated, "test"), settings)
    assert first.record.controls[0].unlabelled is None  # no champion yet: no teacher
    second = train_version(
        store, 1, ProjectData(SENTIMENT_CONFIG, annotated, "test", unlabelled=unlabelled), settings
    )
    control = second.record.controls[0]
    assert control.unlabelled is not None and control.unlabelled["teacher"] == first.version
    used = control.unlabelled["used"]
    assert 0 < used <= control.examples and control.unlabelled["pool"] == 200
    # the record counts annotations per label; pseudo-labels are counted apart
    assert control.label_counts == first.record.controls[0].label_counts
    assert sum(control.unlabelled["label_counts"].values()) == used
    assert control.decision is not None  # gated like any other version
    off = Settings(**{**vars(settings), "semi_supervised": False})
    third = train_version(
        store, 1, ProjectData(SENTIMENT_CONFIG, annotated, "test", unlabelled=unlabelled), off
    )
    assert third.record.controls[0].unlabelled is None


@pytest.mark.slow
def test_minilm_learns_from_an_unlabelled_pool_and_the_gate_decides(tmp_path: Path) -> None:
    """The bundled MiniLM on a few dozen SST-2 sentences, then the same with 300 unlabelled
    ones: the pool is used, its pseudo-labels mostly right, and the gate judges the result."""
    rows = sample(sst2("train"), 360, seed=15)
    annotated = [task(i + 1, text, label) for i, (text, label) in enumerate(rows[:48])]
    truth = {text: label for text, label in rows[48:]}
    unlabelled = [{"id": 1000 + i, "data": {"text": text}} for i, text in enumerate(truth)]
    settings = Settings(inference_runtime="torch", cross_validation_folds=0, semi_supervised=True)
    store = ModelStore(tmp_path)
    train_version(store, 1, ProjectData(SENTIMENT_CONFIG, annotated, "test"), settings)
    outcome = train_version(
        store, 1, ProjectData(SENTIMENT_CONFIG, annotated, "test", unlabelled=unlabelled), settings
    )
    control = outcome.record.controls[0]
    assert control.unlabelled is not None and control.unlabelled["used"] > 10
    assert control.decision is not None and control.decision.reason
    print(f"\nMiniLM pseudo-labels: {control.unlabelled}; {control.decision.reason[:200]}")
