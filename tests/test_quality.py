"""The bundled MiniLM really learns: a few dozen SST-2 sentences beat chance on others.

Needs ../shared/data (the evaluation data beside the repository; CI has it).
"""

from __future__ import annotations

import time

import pytest

from backend.label_config import parse_label_config
from model.base_model import resolve_base_model
from model.labels import LabelSpace
from model.training import TrainingConfig, train_classifier
from tests.conftest import SENTIMENT_CONFIG
from tests.texts import sample, sst2

pytestmark = pytest.mark.slow


def test_minilm_fine_tuned_on_48_sentences_beats_chance_on_200_others() -> None:
    control = parse_label_config(SENTIMENT_CONFIG).controls[0]
    space = LabelSpace(control.labels, control.multi_label)
    train, evaluation = sample(sst2("train"), 48, seed=1), sample(sst2("dev"), 200, seed=2)
    assert {label for _, label in train} == {"Positive", "Negative"}
    started = time.monotonic()
    model, report = train_classifier(
        resolve_base_model("bundled"),
        [text for text, _ in train],
        [[label] for _, label in train],
        space,
        TrainingConfig(),
    )
    predictions = model.predict([text for text, _ in evaluation])
    correct = sum(
        p.labels == (label,) for p, (_, label) in zip(predictions, evaluation, strict=True)
    )
    accuracy = correct / len(evaluation)
    print(
        f"\nMiniLM, 48 SST-2 labels: accuracy {accuracy:.3f} on 200 dev sentences, "
        f"trained in {report.seconds:.1f} s, total {time.monotonic() - started:.1f} s"
    )
    # chance is 0.5; the majority class of these 200 is below 0.56
    majority = max(sum(label == "Positive" for _, label in evaluation), 100) / len(evaluation)
    assert accuracy >= 0.65 and accuracy > majority + 0.08


def test_minilm_span_tagger_on_40_conll_sentences_finds_entities_in_others() -> None:
    from model.span_training import train_span_tagger
    from model.spans import Span
    from tests.texts import conll

    train, evaluation = sample(conll("train"), 40, seed=3), sample(conll("dev"), 200, seed=4)
    space = LabelSpace(("PER", "ORG", "LOC", "MISC"))
    model, report = train_span_tagger(
        resolve_base_model("bundled"),
        [text for text, _ in train],
        [[Span(s, e, label) for s, e, label in spans] for _, spans in train],
        space,
    )
    scores = model.evaluate(
        [text for text, _ in evaluation],
        [[Span(s, e, label) for s, e, label in spans] for _, spans in evaluation],
    )
    print(
        f"\nMiniLM, 40 CoNLL sentences: entity F1 {scores.overall.f1:.3f} on 200 dev sentences "
        f"(P {scores.overall.precision:.3f}, R {scores.overall.recall:.3f}), "
        f"trained in {report.seconds:.1f} s"
    )
    assert report.conversion.used == report.conversion.spans  # clean data: nothing dropped
    assert scores.overall.f1 >= 0.35
