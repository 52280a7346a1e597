"""Loading a saved model folder as the model kind its version says it holds."""

from __future__ import annotations

from pathlib import Path

from model.classifier import TextClassifier
from model.token_classifier import SpanTagger

SPANS = "labels"  # the control kind whose folders hold a span tagger; any other, a classifier
Model = TextClassifier | SpanTagger


def load_model(kind: str, folder: Path, device: str, runtime: str = "torch") -> Model:
    """A `<Choices>` classifier or a `<Labels>` span tagger, served by `runtime` where the
    folder holds its export (torch otherwise)."""
    if kind == SPANS:
        return SpanTagger.load(folder, device, runtime)
    return TextClassifier.load(folder, device, runtime)
