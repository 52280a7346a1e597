"""The int8 ONNX export of a classifier: checked against torch, served only where it loads."""

from pathlib import Path

import pytest

from model.classifier import TextClassifier
from model.int8_export import (
    MIN_ENTITY_AGREEMENT,
    MIN_SAME_LABELS,
    MIN_SPEEDUP,
    export_int8,
    refusal,
)
from model.int8_runtime import ONNX_FILE, RUNTIME
from model.labels import LabelSpace
from model.training import TrainingConfig, train_classifier
from tests.texts import synthetic_reviews

SENTIMENT = LabelSpace(("Positive", "Negative"))


@pytest.fixture(scope="module")
def exported(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    rows = synthetic_reviews(60, seed=3)
    model, _ = train_classifier(
        str(tiny_model),
        [t for t, _ in rows],
        [[label] for _, label in rows],
        SENTIMENT,
        TrainingConfig(epochs=10, learning_rate=1e-3, batch_size=16),
    )
    folder = tmp_path_factory.mktemp("int8") / "control-0"
    model.save(folder)
    # the tiny network is too small for int8 to be faster: its speed is not the point here
    return folder, export_int8(model, folder, [t for t, _ in rows], min_speedup=0)


def test_export_is_checked_against_torch_and_recorded(exported: tuple[Path, dict]) -> None:
    folder, record = exported
    assert record["runtime"] == RUNTIME and record["file"] == ONNX_FILE
    assert (folder / ONNX_FILE).is_file()
    assert not list(folder.glob("*.fp32.onnx"))  # the full-precision intermediate is gone
    assert record["checked_texts"] == 60
    assert 0 <= record["max_probability_difference"] <= 1
    assert MIN_SAME_LABELS <= record["same_labels"] <= 1
    # each runtime's processor time on the check texts, and their ratio
    assert record["torch_cpu_seconds"] > 0 and record["int8_cpu_seconds"] > 0
    ratio = record["torch_cpu_seconds"] / record["int8_cpu_seconds"]
    assert abs(record["speedup"] - ratio) <= 0.2 * ratio  # the seconds are rounded to 1 ms


def test_int8_serves_the_same_labels_as_torch_in_every_batch_shape(
    exported: tuple[Path, dict],
) -> None:
    folder, _ = exported
    torch_model = TextClassifier.load(folder)
    int8_model = TextClassifier.load(folder, runtime=RUNTIME)
    assert (torch_model.runtime, int8_model.runtime) == ("torch", RUNTIME)
    # one text alone, then a batch padded to its longest text
    texts = [t for t, _ in synthetic_reviews(40, seed=11)]
    for batch in ([texts[0]], texts):
        reference, served = torch_model.predict(batch), int8_model.predict(batch)
        same = sum(a.labels == b.labels for a, b in zip(reference, served, strict=True))
        assert same >= MIN_SAME_LABELS * len(batch)
        assert max(abs(a.score - b.score) for a, b in zip(reference, served, strict=True)) < 0.2


def test_a_folder_without_a_usable_export_is_served_by_torch(
    exported: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, _ = exported
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in folder.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    (copy / ONNX_FILE).write_bytes(b"not an onnx file")
    corrupt = TextClassifier.load(copy, runtime=RUNTIME)
    assert corrupt.runtime == "torch"
    (copy / ONNX_FILE).unlink()
    assert TextClassifier.load(copy, runtime=RUNTIME).runtime == "torch"
    assert corrupt.predict(["a wonderful film"])[0].labels in (("Positive",), ("Negative",))


def test_a_failed_export_leaves_no_file_and_says_why(tiny_model: Path, tmp_path: Path) -> None:
    model = TextClassifier.from_base(str(tiny_model), SENTIMENT, 32)
    missing = tmp_path / "not-created"  # the export cannot write here
    record = export_int8(model, missing, ["a text"])
    assert record["runtime"] == "torch"
    assert "the int8 export failed" in record["reason"]
    assert not missing.exists()


def test_an_export_that_changes_too_many_labels_is_deleted(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = TextClassifier.from_base(str(tiny_model), SENTIMENT, 32)
    model.save(tmp_path)
    # no export can agree on more than all texts: the check must refuse this one
    monkeypatch.setattr("model.int8_export.MIN_SAME_LABELS", 1.01)
    record = export_int8(model, tmp_path, ["a good film", "a bad one"])
    assert record["runtime"] == "torch" and "under the 101% required" in record["reason"]
    assert record["checked_texts"] == 2
    assert not (tmp_path / ONNX_FILE).exists()
    assert TextClassifier.load(tmp_path, runtime=RUNTIME).runtime == "torch"


@pytest.fixture(scope="module")
def exported_tagger(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from model.span_training import SpanTrainingConfig, train_span_tagger
    from tests.test_spans import SPACE, synthetic_entities

    rows = synthetic_entities(120, seed=2)
    config = SpanTrainingConfig(epochs=30, learning_rate=5e-3, head_learning_rate=1e-2)
    model, _ = train_span_tagger(
        str(tiny_model), [t for t, _ in rows], [s for _, s in rows], SPACE, config
    )
    folder = tmp_path_factory.mktemp("int8-spans") / "control-0"
    model.save(folder)
    return folder, export_int8(model, folder, [t for t, _ in rows], min_speedup=0)


def test_a_span_tagger_is_exported_checked_and_served_with_its_entities(  # type: ignore[no-untyped-def]
    exported_tagger,
) -> None:
    from model.int8_runtime import TAGGER_FILE
    from model.token_classifier import SpanTagger
    from tests.test_spans import synthetic_entities

    folder, record = exported_tagger
    assert record["runtime"] == RUNTIME and record["file"] == TAGGER_FILE
    assert record["checked_texts"] == 120 and 0 <= record["same_labels"] <= 1
    assert record["entity_f1_against_torch"] >= MIN_ENTITY_AGREEMENT
    assert not list(folder.glob("*.fp32.onnx"))
    torch_tagger = SpanTagger.load(folder)
    int8_tagger = SpanTagger.load(folder, runtime=RUNTIME)
    assert (torch_tagger.runtime, int8_tagger.runtime) == ("torch", RUNTIME)
    texts = [t for t, _ in synthetic_entities(30, seed=9)]
    for batch in ([texts[0]], texts):  # one text alone, and windows padded to the longest
        reference, served = torch_tagger.predict(batch), int8_tagger.predict(batch)
        same = sum(
            {s.key for s in a.spans} == {s.key for s in b.spans}
            for a, b in zip(reference, served, strict=True)
        )
        assert same >= MIN_SAME_LABELS * len(batch)
    (folder / TAGGER_FILE).write_bytes(b"not an onnx file")
    assert SpanTagger.load(folder, runtime=RUNTIME).runtime == "torch"  # falls back


def test_an_export_slower_than_torch_is_refused_with_its_figures() -> None:
    """Agreeing answers are not enough: int8 serves only where it is faster."""
    agreeing = {"checked_texts": 256, "same_labels": 0.97, "entity_f1_against_torch": 0.97}
    assert refusal({**agreeing, "speedup": 1.9}, tagger=False) is None
    assert refusal({**agreeing, "speedup": 1.2}, tagger=True) is None
    slower = refusal({**agreeing, "speedup": 0.64}, tagger=True)
    assert slower is not None and "0.64x torch's speed" in slower
    assert f"under the {MIN_SPEEDUP:.2f}x required" in slower
    assert refusal({**agreeing, "speedup": 0.64}, tagger=True, min_speedup=0) is None
