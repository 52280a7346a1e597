"""Serving a text classifier or span tagger through ONNX Runtime with int8 weights: what
web processes load.

On a CPU a BERT's time goes to the matrix products of its Linear layers. Dynamic int8
quantisation (weights stored as int8, activations quantised per batch) runs them about
twice as fast as fp32 torch: measured on MiniLM, one thread, 872 SST-2 sentences in
length-sorted batches of 32, 180 texts/s in torch against 340 with this file.

The file is written by `model.int8_export`, where the model is trained; a web process only
opens it, and never imports the exporter (onnx, onnxscript and torch.onnx stay out of it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

ONNX_FILE = "classifier.int8.onnx"  # a classifier's; a span tagger's is TAGGER_FILE
TAGGER_FILE = "tagger.int8.onnx"
RUNTIME = "onnx-int8"

log = logging.getLogger(__name__)


class Int8Network:
    """The exported network behind the call signature of the torch one: ids and mask in,
    logits out."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # no warnings per session about unused initialisers
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ids, mask = input_ids.cpu().numpy(), attention_mask.cpu().numpy()
        (logits,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return torch.from_numpy(logits)


def open_int8(folder: Path, threads: int, name: str = ONNX_FILE) -> Int8Network | None:
    """The folder's int8 network, or None where it has none or it cannot be opened (the
    torch weights beside it still serve)."""
    path = folder / name
    if not path.is_file():
        return None
    try:
        return Int8Network(path, threads)
    except Exception as error:  # any failure to open falls back to torch
        log.warning("%s cannot be opened (%s); serving it with torch", path, error)
        return None
