"""Exporting a trained text classifier or span tagger to an int8 ONNX file, checked
against torch (the same labels, or the same entities, on most check texts).

The export runs once, in the worker that trained the model; web processes only open the
file (`model.int8_runtime`) and never import this module. An export is checked against the
torch model it came from before it is kept, because a silently wrong graph would serve wrong
pre-annotations for the life of the version.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from model.int8_runtime import ONNX_FILE, RUNTIME, TAGGER_FILE, Int8Network
from model.span_metrics import evaluate_spans

if TYPE_CHECKING:
    from model.classifier import TextClassifier
    from model.token_classifier import SpanTagger

    Exportable = TextClassifier | SpanTagger

# The share of checked texts on which int8 must choose the labels torch chooses: a test
# that the graph is right, not a promise of fp32's exact answers (INFERENCE_RUNTIME=torch
# is that). Measured with per-channel weights on MiniLM, SST-2 dev (872 texts): 97.0 to
# 98.2 % the same labels, dev accuracy from 0.7 points lower to 0.7 higher (four models,
# 50 to 500 labels, mean +0.03 points); one scale per matrix flipped three times more. A broken
# graph (a mask ignored, a layer dropped) agrees far less.
MIN_SAME_LABELS = 0.95
# The entity F1 of a tagger's int8 answers against its torch answers: measured on MiniLM
# tuned on 150 CoNLL-2003 sentences, 500 dev sentences, per-channel weights gave 0.965
# (exactly torch's entities on 93.6 % of texts) and a dev entity F1 0.2 points below torch's.
MIN_ENTITY_AGREEMENT = 0.95
# int8 must also be faster than torch on the check texts, in processor time (the wall clock
# counts other processes' work on a shared machine): on this 2-core CPU MiniLM classifiers
# ran 1.9x faster and a CoNLL-2003 span tagger 1.5x, but an earlier tagger measured 0.6 to
# 0.9x, and where int8 is slower torch should serve.
MIN_SPEEDUP = 1.0
CHECK_TEXTS = 256
PADDED_SAMPLE = ("a", "a longer text, so the first one is padded")

log = logging.getLogger(__name__)


def export_int8(
    model: Exportable, folder: Path, check_texts: Sequence[str], min_speedup: float = MIN_SPEEDUP
) -> dict:
    """Write the model's network to `folder` as an int8 ONNX file, check it against torch
    on `check_texts` (its answers, and its speed), and return what happened for the version
    record. Any failure or refusal leaves no file behind, and the version is served by
    torch."""
    from model.token_classifier import SpanTagger

    started = time.perf_counter()
    tagger = isinstance(model, SpanTagger)
    target = folder / (TAGGER_FILE if tagger else ONNX_FILE)
    try:
        _export(model, folder, target)
        int8 = Int8Network(target, torch.get_num_threads())
        check = (
            _compare_spans(model, int8, check_texts)
            if isinstance(model, SpanTagger)
            else _compare(model, int8, check_texts)
        )
    except Exception as error:  # an export failure must never fail training
        target.unlink(missing_ok=True)
        log.warning("int8 export failed, the version is served by torch: %s", error)
        return {"runtime": "torch", "reason": f"the int8 export failed: {error}"}
    record = {"file": target.name, "seconds": round(time.perf_counter() - started, 2), **check}
    refused = refusal(check, tagger, min_speedup)
    if refused:
        target.unlink()
        return {**record, "runtime": "torch", "reason": refused}
    return {**record, "runtime": RUNTIME}


def refusal(check: dict, tagger: bool, min_speedup: float = MIN_SPEEDUP) -> str | None:
    """Why the export may not serve, if so: a classifier must choose torch's labels on
    MIN_SAME_LABELS of the texts; a tagger must find torch's entities at an entity F1 of
    MIN_ENTITY_AGREEMENT (a text of many entities differs more often in one of them, so a
    share of whole texts would refuse exports that serve as well); and either must answer
    at least `min_speedup` times as fast as torch."""
    agreement = check.get("entity_f1_against_torch", 1.0)
    if tagger and agreement < MIN_ENTITY_AGREEMENT:
        return (
            f"int8 found torch's entities at an entity F1 of {agreement:.3f} on "
            f"{check['checked_texts']} texts, under the {MIN_ENTITY_AGREEMENT:.2f} required"
        )
    if not tagger and check["same_labels"] < MIN_SAME_LABELS:
        return (
            f"int8 chose torch's labels on {check['same_labels']:.1%} of "
            f"{check['checked_texts']} texts, under the {MIN_SAME_LABELS:.0%} required"
        )
    speedup = check.get("speedup")
    if speedup is not None and speedup < min_speedup:
        return (
            f"int8 answered {check['checked_texts']} texts at {speedup:.2f}x torch's speed "
            f"(processor time), under the {min_speedup:.2f}x required: torch is faster here"
        )
    return None


def _export(model: Exportable, folder: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    network, device = model.network.eval(), model.device
    # Two texts of different lengths: the traced graph must see a padded batch, or it may
    # bake in "no padding" and ignore the mask of every batch after.
    sample = model.onnx_sample(list(PADDED_SAMPLE))
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens")
    axes = {"input_ids": {0: batch, 1: tokens}, "attention_mask": {0: batch, 1: tokens}}
    full = folder / "model.fp32.onnx"
    try:
        network.cpu()
        with warnings.catch_warnings(), _quiet_logs():
            # The exporter warns about its own internals (axis names, pytree specs):
            # nothing a user of this service can act on, so kept out of the worker's log.
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model.onnx_module(),
                (),
                kwargs=sample,
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_shapes=axes,
                dynamo=True,
                optimize=True,
                verbose=False,
            )
        if program is None:
            raise RuntimeError("torch.onnx.export returned no program")
        program.save(str(full))
        with _quiet_logs():
            # a scale per output channel: one per matrix flipped 3 times more labels
            quantize_dynamic(str(full), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        network.to(device)
        full.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The exporter and its graph optimiser log every pass, and the quantiser logs each
    tensor to the root logger: hundreds of lines a user cannot act on, kept out of the
    worker's log. Loggers of this service are named, so they keep logging meanwhile."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnx_ir", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    # A filter on the root logger sees only records logged to it directly (the quantiser's),
    # not those of named loggers passing through its handlers.
    root_lines = _ErrorsOnly()
    logging.getLogger().addFilter(root_lines)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        logging.getLogger().removeFilter(root_lines)


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _compare_spans(tagger: SpanTagger, int8: Int8Network, texts: Sequence[str]) -> dict:
    """How often the int8 network finds exactly torch's entities, text by text."""
    texts = list(texts[:CHECK_TEXTS]) or list(PADDED_SAMPLE)
    timed = Timed()
    reference = [p.spans for p in timed("torch", tagger.served_by(None).predict, texts)]
    served = [p.spans for p in timed("int8", tagger.served_by(int8).predict, texts)]
    same = sum(
        {s.key for s in a} == {s.key for s in b} for a, b in zip(reference, served, strict=True)
    )
    agreement = evaluate_spans(served, reference).overall.f1  # torch's spans as the truth
    return {
        "checked_texts": len(texts),
        "same_labels": round(same / len(texts), 4),
        "entity_f1_against_torch": round(agreement, 4),
        **timed.summary(),
    }


def _compare(classifier: TextClassifier, int8: Int8Network, texts: Sequence[str]) -> dict:
    """How far the int8 network's answers are from torch's on the same texts."""
    texts = list(texts[:CHECK_TEXTS]) or list(PADDED_SAMPLE)
    timed = Timed()
    reference = timed("torch", classifier.predict_proba, texts)
    served = timed("int8", classifier.served_by(int8).predict_proba, texts)
    pairs = list(zip(reference, served, strict=True))
    differences = [abs(a - b) for ra, rb in pairs for a, b in zip(ra, rb, strict=True)]
    same = sum(classifier.decide(ra).labels == classifier.decide(rb).labels for ra, rb in pairs)
    return {
        "checked_texts": len(texts),
        "same_labels": round(same / len(texts), 4),
        "max_probability_difference": round(max(differences), 4),
        **timed.summary(),
    }


class Timed:
    """Processor seconds of each runtime's pass over the check texts."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, runtime: str, predict, texts: list[str]):  # type: ignore[no-untyped-def]
        started = time.process_time()
        answers = predict(texts)
        self.seconds[runtime] = time.process_time() - started
        return answers

    def summary(self) -> dict:
        torch_s, int8_s = self.seconds["torch"], self.seconds["int8"]
        return {
            "torch_cpu_seconds": round(torch_s, 3),
            "int8_cpu_seconds": round(int8_s, 3),
            "speedup": round(torch_s / int8_s, 2) if int8_s > 0 else None,
        }
