"""The in-process sides of `lsbert bench`: the classifier the server will serve, the Label
Studio example's pipeline (the baseline) and the bare forward pass (the ceiling).

Both reference figures run on the same texts, in requests of the same size, with as many
torch threads as the web process, so the only difference left is how each side works.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from backend.clock import utc_now
from backend.label_config import Control
from backend.store import ModelStore
from backend.version_record import (
    FULL,
    ControlRecord,
    Decision,
    Inference,
    StartPlan,
    VersionRecord,
)

CONTROL_FOLDER = "control-0"


def quiet_transformers() -> None:
    """No 'newly initialized weights' warning nor progress bar per pipeline built: the
    baseline builds one per request."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def publish_classifier(
    store: ModelStore,
    project: int,
    base_model: str,
    control: Control,
    examples: Sequence[tuple[str, str]],
    max_length: int,
    device: str,
    check_texts: Sequence[str] | None,
) -> tuple[str, int, dict | None]:
    """A classifier trained in seconds (linear probe only) published as the project's
    version, with the record the web process reads; the version, parameter count and, with
    `check_texts`, its int8 export's record (checked on those texts), as a worker does."""
    from model.labels import LabelSpace
    from model.training import TrainingConfig, train_classifier

    space = LabelSpace(control.labels, control.multi_label)
    texts, labels = [text for text, _ in examples], [[label] for _, label in examples]
    config = TrainingConfig(epochs=0, max_length=max_length)
    model, _ = train_classifier(base_model, texts, labels, space, config, device=device)
    entry = ControlRecord(
        control=control.name,
        kind=control.kind,
        folder=CONTROL_FOLDER,
        labels=list(control.labels),
        multi_label=control.multi_label,
        examples=len(texts),
        start=StartPlan(FULL, "trained by lsbert bench (linear probe only)"),
    )
    record = VersionRecord(
        created_at=utc_now(),
        decision=Decision(True, "published by lsbert bench"),
        controls=[entry],
    )
    inference = None
    with store.staging(project) as staged:
        model.save(staged / CONTROL_FOLDER)
        if check_texts is not None:
            from model.int8_export import export_int8

            inference = export_int8(model, staged / CONTROL_FOLDER, check_texts)
            entry.inference = Inference.from_dict(inference)
        version = store.publish(project, staged, record)
    return version, sum(p.numel() for p in model.network.parameters()), inference


def save_pipeline_model(base_model: str, labels: Sequence[str], folder: Path) -> Path:
    """The base model with a sequence-classification head, saved as the Label Studio BERT
    example saves its fine-tuned model: the folder its pipeline is built from."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        base_model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_model).save_pretrained(folder)
    return folder


def pipeline_seconds(
    folder: Path, requests: Sequence[Sequence[str]], max_length: int, device: str
) -> float:
    """The Label Studio BERT example's /predict: its ML server makes a new model object per
    request, whose first predict builds a `pipeline` from the saved folder, then passes it
    the request's texts, which a pipeline without batch_size runs one at a time. Truncated
    to our window, so both sides read the same tokens."""
    from transformers import pipeline

    started = time.perf_counter()
    for texts in requests:
        classify = pipeline("text-classification", model=str(folder), device=device)
        answers = classify(list(texts), truncation=True, max_length=max_length)
        if len(answers) != len(texts):
            raise RuntimeError(f"the pipeline answered {len(answers)} of {len(texts)} texts")
    return time.perf_counter() - started


def ceiling_seconds(
    folder: Path, texts: Sequence[str], device: str, runtime: str, batch_size: int = 32
) -> float:
    """Our classifier with nothing around it, in the runtime given: tokenizing and the
    forward pass, in length-sorted batches of `batch_size`, without HTTP, JSON or result
    building."""
    import torch

    from model.classifier import TextClassifier, length_sorted_batches

    classifier = TextClassifier.load(folder, device, runtime)
    started = time.perf_counter()
    with torch.inference_mode():
        for indexes in length_sorted_batches(texts, batch_size):
            classifier.logits(classifier.encode([texts[i] for i in indexes]))
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()  # a GPU runs ahead of Python: time the work, not the queueing
    return time.perf_counter() - started


def warm_up(
    folder: Path,
    pipeline_folder: Path,
    texts: Sequence[str],
    max_length: int,
    device: str,
    runtimes: Sequence[str],
) -> None:
    """Read every file once and run each runtime once, so no side pays for a cold disk
    cache or a first-call set-up."""
    pipeline_seconds(pipeline_folder, [texts[:2]], max_length, device)
    for runtime in runtimes:
        ceiling_seconds(folder, texts[:2], device, runtime)
