"""The classifier on a tiny random BERT: it learns, saves, loads and predicts in order."""

from pathlib import Path

import pytest

from model.classifier import TextClassifier, length_sorted_batches
from model.errors import StoredModelError, TrainingDataError
from model.labels import LabelSpace
from model.training import TrainingConfig, train_classifier
from tests.texts import synthetic_reviews

SENTIMENT = LabelSpace(("Positive", "Negative"))
FAST = TrainingConfig(epochs=15, learning_rate=1e-3, batch_size=16)


@pytest.fixture(scope="module")
def trained(tiny_model: Path) -> TextClassifier:
    rows = synthetic_reviews(80, seed=1)
    model, report = train_classifier(
        str(tiny_model), [t for t, _ in rows], [[label] for _, label in rows], SENTIMENT, FAST
    )
    assert report.examples == 80 and report.steps == 15 * 5
    assert report.label_counts == {"Positive": 40, "Negative": 40}
    return model


def flat(rows: list[list[float]]) -> list[float]:
    return [p for row in rows for p in row]


def accuracy(model: TextClassifier, rows: list[tuple[str, str]]) -> float:
    predictions = model.predict([text for text, _ in rows])
    return sum(p.labels == (label,) for p, (_, label) in zip(predictions, rows, strict=True)) / len(
        rows
    )


def test_training_learns_what_the_examples_teach(trained: TextClassifier) -> None:
    assert accuracy(trained, synthetic_reviews(60, seed=99)) >= 0.9


def test_scores_are_probabilities_of_the_chosen_label(trained: TextClassifier) -> None:
    (prediction,) = trained.predict(["the film was really wonderful"])
    assert prediction.labels == ("Positive",)
    assert 0.5 < prediction.score <= 1.0
    assert prediction.probabilities == (prediction.score,)


def test_save_and_load_give_the_same_predictions(trained: TextClassifier, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    texts = [t for t, _ in synthetic_reviews(10, seed=5)]
    assert loaded.label_space == SENTIMENT
    assert flat(loaded.predict_proba(texts)) == pytest.approx(
        flat(trained.predict_proba(texts)), abs=1e-5
    )
    # the saved encoder config carries its labels, as transformers users expect
    assert '"label2id"' in (tmp_path / "m" / "config.json").read_text()


def test_loading_a_folder_of_something_else_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoredModelError, match=r"classifier\.json"):
        TextClassifier.load(tmp_path)


def test_predictions_keep_input_order_across_length_sorted_batches(trained: TextClassifier) -> None:
    texts = ["dull " * n + "plot" for n in (30, 1, 12, 4)] + ["superb"]
    one_by_one = [trained.predict_proba([t])[0] for t in texts]
    batched = trained.predict_proba(texts, batch_size=2)
    assert flat(batched) == pytest.approx(flat(one_by_one), abs=1e-5)
    assert sorted(i for batch in length_sorted_batches(texts, 2) for i in batch) == list(range(5))


def test_huge_and_odd_texts_are_handled(trained: TextClassifier) -> None:
    huge = "wonderful story " * 200_000  # 3.2 MB: truncated to the window, quickly
    predictions = trained.predict([huge, "🙂 çà 中文\t\n", "   x"])
    assert len(predictions) == 3 and all(p.labels for p in predictions)


def test_multi_label_learns_several_labels(tiny_model: Path) -> None:
    space = LabelSpace(("good", "bad", "music"), multi_label=True)
    rows = []
    for text, label in synthetic_reviews(80, seed=2):
        labels = ["good" if label == "Positive" else "bad"]
        rows.append((text, labels + (["music"] if "music" in text.split() else [])))
    model, _ = train_classifier(
        str(tiny_model), [t for t, _ in rows], [labels for _, labels in rows], space, FAST
    )
    (prediction,) = model.predict(["the music was brilliant"])
    assert set(prediction.labels) == {"good", "music"}
    assert all(p >= 0.5 for p in prediction.probabilities)


@pytest.mark.parametrize(
    ("texts", "labels", "says"),
    [
        (["a"], [["Positive"]], "at least 2 annotated"),
        (["a", "b"], [["Positive"], ["Positive"]], "at least 2 different labels"),
        (["a", "b"], [["Positive"], ["Maybe"]], "not in"),
    ],
)
def test_unusable_examples_are_refused_with_the_reason(
    tiny_model: Path, texts: list, labels: list, says: str
) -> None:
    with pytest.raises(TrainingDataError, match=says):
        train_classifier(str(tiny_model), texts, labels, SENTIMENT, FAST)


def test_each_stage_alone_learns_and_reports_its_steps(tiny_model: Path) -> None:
    rows = synthetic_reviews(48, seed=6)
    texts, labels = [t for t, _ in rows], [[label] for _, label in rows]
    probe_only = TrainingConfig(epochs=0)
    finetune_only = TrainingConfig(epochs=0, finetune_epochs=10, finetune_learning_rate=1e-3)
    for config, steps in ((probe_only, 0), (finetune_only, 10 * 2)):
        model, report = train_classifier(str(tiny_model), texts, labels, SENTIMENT, config)
        assert report.steps == steps and report.config["finetune_epochs"] == config.finetune_epochs
        if steps:  # the random tiny encoder needs gradient steps to separate the keywords
            assert accuracy(model, synthetic_reviews(40, seed=98)) >= 0.9


def test_device_choice_is_checked() -> None:
    import torch

    from model.errors import ModelError
    from model.runtime import select_device

    assert select_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert select_device("auto") == torch.device("cuda")
    else:
        assert select_device("auto") == torch.device("cpu")
        with pytest.raises(ModelError, match="no GPU"):
            select_device("cuda")
