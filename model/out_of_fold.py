"""Out-of-fold probabilities without retraining the encoder: features computed once (a
text's mean-pooled embedding, a word's contextual state), and a linear probe refitted per
fold on all folds but one, answering for that one. Every example's probabilities come from
a probe that never saw its label: what confident learning needs (model.confident_learning).

A probe fit is a few hundred L-BFGS steps on fixed features, so ten folds over 500 texts
cost well under a second: the encoder's forward pass is the cost, and it is paid once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.classifier import TextClassifier
from model.config import TrainingConfig
from model.labels import LabelSpace
from model.training import fit_linear_probe, frozen_embeddings

FOLDS = 10
PROBE_L2 = TrainingConfig.probe_l2  # the served probe's penalty


def fold_of(keys: Sequence[int], folds: int) -> list[int]:
    """Each example's fold, by a hash of its key (a task id): the same task lands in the
    same fold whatever else the project holds."""
    order = sorted(
        range(len(keys)), key=lambda i: hashlib.sha256(f"quality:{keys[i]}".encode()).digest()
    )
    fold = [0] * len(keys)
    for position, index in enumerate(order):
        fold[index] = position % folds
    return fold


def out_of_fold(
    features: torch.Tensor,
    targets: torch.Tensor,
    space: LabelSpace,
    keys: Sequence[int],
    folds: int = FOLDS,
    l2: float = PROBE_L2,
) -> np.ndarray:
    """Per example (rows of `features`), the class probabilities of the probe fitted on
    the other folds (sigmoid per label for a multi-label space, softmax otherwise)."""
    folds = max(2, min(folds, len(keys)))
    fold = torch.tensor(fold_of(keys, folds))
    probabilities = np.zeros((len(keys), space.size))
    for k in range(folds):
        test, train = fold == k, fold != k
        if not bool(test.any()) or not bool(train.any()):
            continue
        head = torch.nn.Linear(features.shape[1], space.size)
        torch.manual_seed(k)
        fit_linear_probe(head, features[train], targets[train], space, l2)
        with torch.no_grad():
            logits = head(features[test])
            probs = torch.sigmoid(logits) if space.multi_label else torch.softmax(logits, -1)
        probabilities[test.numpy()] = probs.numpy()
    return probabilities


def text_features(model: TextClassifier, texts: Sequence[str]) -> torch.Tensor:
    """Mean-pooled encoder states of each text (the classifier's own features)."""
    with torch.inference_mode():
        return frozen_embeddings(model, list(texts), batch_size=32).detach()


@dataclass(frozen=True)
class WordFeatures:
    """Per text: each word's character offsets and its feature row (the state of its
    first word piece, beside its neighbours' states)."""

    offsets: list[list[tuple[int, int]]]
    rows: list[torch.Tensor]


@torch.inference_mode()
def word_features(
    model: TextClassifier, texts: Sequence[str], batch_size: int = 32
) -> WordFeatures:
    """Contextual word features from the encoder of `model`, one row per word of the first
    window of each text: the word's first piece, the previous and the next word's (zeros
    at the edges), so a probe can tell where an entity starts and ends."""
    model.network.eval()
    offsets: list[list[tuple[int, int]]] = []
    rows: list[torch.Tensor] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        batch = model.tokenizer(
            chunk,
            padding=True,
            truncation=True,
            max_length=model.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        states = model.network.encoder(
            input_ids=batch["input_ids"].to(model.device),
            attention_mask=batch["attention_mask"].to(model.device),
        )[0].cpu()
        for row in range(len(chunk)):
            first, spans = word_pieces(batch.word_ids(row), batch["offset_mapping"][row].tolist())
            offsets.append(spans)
            rows.append(with_neighbours(states[row, first]))
    return WordFeatures(offsets, rows)


def word_pieces(
    words: list[int | None], pieces: list[list[int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """The position of each word's first piece, and the word's offsets over all its pieces."""
    first: list[int] = []
    spans: list[tuple[int, int]] = []
    previous = None
    for position, word in enumerate(words):
        if word is None:
            continue
        if word != previous:
            first.append(position)
            spans.append((pieces[position][0], pieces[position][1]))
        else:
            spans[-1] = (spans[-1][0], pieces[position][1])
        previous = word
    return first, spans


def with_neighbours(states: torch.Tensor) -> torch.Tensor:
    if len(states) == 0:
        return torch.zeros(0, states.shape[1] * 3)
    edge = torch.zeros(1, states.shape[1])
    before = torch.cat([edge, states[:-1]])
    after = torch.cat([states[1:], edge])
    return torch.cat([states, before, after], dim=1)
