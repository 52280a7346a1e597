"""Fine-tuning a text classifier from a base BERT, in two stages.

1. Linear probe: the head is fitted as a regularised logistic regression on the frozen,
   mean-pooled embeddings. This alone is a strong few-label classifier.
2. Fine-tuning: encoder and head are trained together, starting from that head, at a small
   learning rate. Starting from a fitted head rather than a random one keeps the first
   gradient steps from distorting the pretrained features (LP-FT, Kumar et al. 2022).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from model.classifier import TextClassifier
from model.errors import TrainingDataError
from model.labels import LabelSpace


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one training run; the defaults suit a few dozen to a few
    thousand labels on a CPU."""

    epochs: int = 8  # passes over the annotations during fine-tuning
    learning_rate: float = 5e-5  # peak learning rate of the encoder; the head gets 10x
    batch_size: int = 16
    max_length: int = 128  # tokens per text; longer texts are truncated
    max_steps: int = 1500  # cap on optimiser steps, so big projects train in bounded time
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    probe_l2: float = 1e-3  # L2 penalty of the linear probe
    seed: int = 42

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class TrainingProgress:
    epoch: int
    step: int
    total_steps: int
    loss: float


@dataclass
class TrainingReport:
    examples: int
    label_counts: dict[str, int]
    steps: int = 0
    epochs: int = 0
    final_loss: float = float("nan")
    seconds: float = 0.0
    config: dict[str, float | int] = field(default_factory=dict)


ProgressCallback = Callable[[TrainingProgress], None]


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def check_examples(
    texts: Sequence[str], labels: Sequence[Sequence[str]], space: LabelSpace
) -> dict[str, int]:
    """Label counts of the examples; a clear error where they cannot train a model."""
    if len(texts) != len(labels):
        raise TrainingDataError(f"{len(texts)} texts but {len(labels)} label lists")
    counts = dict.fromkeys(space.labels, 0)
    for example in labels:
        unknown = space.unknown(example)
        if unknown:
            raise TrainingDataError(f"labels {unknown} are not in {list(space.labels)}")
        for label in example:
            counts[label] += 1
    used = [label for label, n in counts.items() if n]
    if len(texts) < 2:
        raise TrainingDataError(f"training needs at least 2 annotated texts, got {len(texts)}")
    if not space.multi_label and len(used) < 2:
        raise TrainingDataError(
            f"training needs examples of at least 2 different labels, got only {used}"
        )
    if space.multi_label and not used:
        raise TrainingDataError("training needs at least one text with a label chosen")
    return counts


def targets_tensor(labels: Sequence[Sequence[str]], space: LabelSpace) -> torch.Tensor:
    rows = [space.target(example) for example in labels]
    if space.multi_label:
        return torch.tensor(rows, dtype=torch.float32)
    return torch.tensor(rows, dtype=torch.long)


def loss_function(space: LabelSpace) -> nn.Module:
    return nn.BCEWithLogitsLoss() if space.multi_label else nn.CrossEntropyLoss()


@torch.no_grad()
def frozen_embeddings(model: TextClassifier, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    model.network.eval()
    rows = torch.empty(len(texts), model.network.head.in_features)
    for start in range(0, len(texts), batch_size):
        batch = model.encode(texts[start : start + batch_size])
        rows[start : start + batch_size] = model.network.embed(**batch)
    return rows


def fit_linear_probe(
    head: nn.Linear, features: torch.Tensor, targets: torch.Tensor, space: LabelSpace, l2: float
) -> None:
    """Fit the head as an L2-regularised logistic regression on fixed features (L-BFGS)."""
    criterion = loss_function(space)
    optimiser = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=200, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = criterion(head(features), targets) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)


def linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def fine_tune(
    model: TextClassifier,
    texts: Sequence[str],
    targets: torch.Tensor,
    config: TrainingConfig,
    report: TrainingReport,
    on_progress: ProgressCallback | None,
) -> None:
    network = model.network
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    epochs = max(1, min(config.epochs, config.max_steps // steps_per_epoch))
    total = epochs * steps_per_epoch
    optimiser = torch.optim.AdamW(
        [
            {"params": network.encoder.parameters(), "lr": config.learning_rate},
            {"params": network.head.parameters(), "lr": config.learning_rate * 10},
        ],
        weight_decay=config.weight_decay,
    )
    warmup = max(1, int(total * config.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, linear_schedule(total, warmup))
    criterion = loss_function(model.label_space)
    generator = torch.Generator().manual_seed(config.seed)
    network.train()
    step = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(texts), generator=generator).tolist()
        for start in range(0, len(order), config.batch_size):
            indexes = order[start : start + config.batch_size]
            batch = model.encode([texts[i] for i in indexes])
            loss = criterion(network(**batch), targets[indexes])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad()
            step += 1
            report.final_loss = float(loss.detach())
            if on_progress:
                on_progress(TrainingProgress(epoch, step, total, report.final_loss))
    network.eval()
    report.steps, report.epochs = step, epochs


def train_classifier(
    base_model: str,
    texts: Sequence[str],
    labels: Sequence[Sequence[str]],
    space: LabelSpace,
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[TextClassifier, TrainingReport]:
    """Train a classifier of `space` on annotated texts, starting from `base_model`."""
    config = config or TrainingConfig()
    counts = check_examples(texts, labels, space)
    started = time.monotonic()
    set_seed(config.seed)
    model = TextClassifier.from_base(base_model, space, config.max_length)
    targets = targets_tensor(labels, space)
    features = frozen_embeddings(model, texts, batch_size=32)
    fit_linear_probe(model.network.head, features, targets, space, config.probe_l2)
    report = TrainingReport(examples=len(texts), label_counts=counts, config=config.to_dict())
    if config.epochs > 0:
        fine_tune(model, texts, targets, config, report, on_progress)
    report.seconds = time.monotonic() - started
    return model, report
