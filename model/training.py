"""Training a text classifier from a base BERT, in up to three stages.

1. Pair stage (SetFit, Tunstall et al. 2022): the encoder learns, over every pair of texts in
   a batch, a cosine similarity of 1 for texts with the same labels and 0 otherwise. A
   hundred labels make thousands of pairs, which is why this beats plain fine-tuning when
   labels are few (measured on SST-2 at 100 labels: 0.75 against 0.71).
2. Linear probe: the head is fitted as a regularised logistic regression on the frozen,
   mean-pooled embeddings of the tuned encoder.
3. Optional cross-entropy fine-tuning of encoder and head together, starting from the
   fitted head (LP-FT, Kumar et al. 2022): off by default, for projects with many labels.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from model.classifier import TextClassifier
from model.config import TrainingConfig
from model.errors import TrainingDataError
from model.labels import LabelSpace
from model.runtime import select_device


@dataclass
class TrainingProgress:
    stage: str
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
BatchLoss = Callable[[list[int]], torch.Tensor]


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


def loss_function(space: LabelSpace, reduction: str = "mean") -> nn.Module:
    if space.multi_label:
        return nn.BCEWithLogitsLoss(reduction=reduction)
    return nn.CrossEntropyLoss(reduction=reduction)


def pair_similarity_loss(
    embeddings: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """SetFit's loss over all pairs of a batch: cosine towards 1 for the same class and 0
    for different ones; for multi-label targets, towards the Jaccard overlap of the two
    label sets (two texts with no label count as the same). A pair weighs the product of
    its texts' weights (pseudo-labels weigh less than annotations)."""
    unit = nn.functional.normalize(embeddings, dim=1)
    cosine = unit @ unit.T
    if targets.dim() == 1:
        wanted = (targets[:, None] == targets[None, :]).float()
    else:
        shared = targets @ targets.T
        union = targets.sum(1)[:, None] + targets.sum(1)[None, :] - shared
        wanted = torch.where(union > 0, shared / union.clamp(min=1.0), torch.ones_like(shared))
    upper = torch.triu_indices(len(targets), len(targets), 1)
    errors = (cosine[upper[0], upper[1]] - wanted[upper[0], upper[1]]) ** 2
    if weights is None:
        return errors.mean()
    pair_weights = weights[upper[0]] * weights[upper[1]]
    return (errors * pair_weights).sum() / pair_weights.sum().clamp(min=1e-8)


@torch.no_grad()
def frozen_embeddings(model: TextClassifier, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    model.network.eval()
    rows = torch.empty(len(texts), model.network.head.in_features, device=model.device)
    for start in range(0, len(texts), batch_size):
        batch = model.encode(texts[start : start + batch_size])
        rows[start : start + batch_size] = model.network.embed(**batch)
    return rows


def fit_linear_probe(
    head: nn.Linear,
    features: torch.Tensor,
    targets: torch.Tensor,
    space: LabelSpace,
    l2: float,
    weights: torch.Tensor | None = None,
) -> None:
    """Fit the head as an L2-regularised logistic regression on fixed features (L-BFGS),
    each example weighing its weight."""
    criterion = loss_function(space, reduction="none")
    weights = torch.ones(len(features), device=features.device) if weights is None else weights
    optimiser = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=200, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        losses = criterion(head(features), targets)
        losses = losses.mean(1) if losses.dim() == 2 else losses
        loss = (losses * weights).sum() / weights.sum() + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)


def linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


@dataclass
class Stage:
    """One gradient-descent stage: which parameters move, at what rate, by what loss."""

    name: str
    epochs: int
    batch_size: int
    param_groups: list[dict]
    batch_loss: BatchLoss


def run_stage(
    stage: Stage,
    size: int,
    config: TrainingConfig,
    report: TrainingReport,
    on_progress: ProgressCallback | None,
) -> None:
    """AdamW with linear warmup and decay over shuffled batches; adds to the report."""
    steps_per_epoch = math.ceil(size / stage.batch_size)
    epochs = max(1, min(stage.epochs, config.max_steps // steps_per_epoch))
    total = epochs * steps_per_epoch
    optimiser = torch.optim.AdamW(stage.param_groups, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, linear_schedule(total, max(1, int(total * config.warmup_ratio)))
    )
    parameters = [p for group in stage.param_groups for p in group["params"]]
    generator = torch.Generator().manual_seed(config.seed)
    step = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(size, generator=generator).tolist()
        for start in range(0, size, stage.batch_size):
            step += 1
            loss = stage.batch_loss(order[start : start + stage.batch_size])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad()
            report.final_loss = float(loss.detach())
            if on_progress:
                on_progress(TrainingProgress(stage.name, epoch, step, total, report.final_loss))
    report.steps += step
    report.epochs += epochs


def pair_stage(
    model: TextClassifier,
    texts: Sequence[str],
    targets: torch.Tensor,
    config: TrainingConfig,
    weights: torch.Tensor | None = None,
) -> Stage:
    network = model.network

    def batch_loss(indexes: list[int]) -> torch.Tensor:
        if len(indexes) < 2:  # a lone text makes no pair; pair it with itself
            indexes = indexes * 2
        embeddings = network.embed(**model.encode([texts[i] for i in indexes]))
        given = weights[indexes] if weights is not None else None
        return pair_similarity_loss(embeddings, targets[indexes], given)

    groups = [{"params": list(network.encoder.parameters()), "lr": config.learning_rate}]
    return Stage("pairs", config.epochs, config.batch_size, groups, batch_loss)


def finetune_stage(
    model: TextClassifier, texts: Sequence[str], targets: torch.Tensor, config: TrainingConfig
) -> Stage:
    network = model.network
    criterion = loss_function(model.label_space)

    def batch_loss(indexes: list[int]) -> torch.Tensor:
        return criterion(network(**model.encode([texts[i] for i in indexes])), targets[indexes])

    rate = config.finetune_learning_rate
    groups = [
        {"params": list(network.encoder.parameters()), "lr": rate},
        {"params": list(network.head.parameters()), "lr": rate * 10},
    ]
    return Stage("fine-tuning", config.finetune_epochs, config.batch_size, groups, batch_loss)


def train_classifier(
    base_model: str,
    texts: Sequence[str],
    labels: Sequence[Sequence[str]],
    space: LabelSpace,
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
    device: str = "auto",
    start_from: Path | None = None,
    weights: Sequence[float] | None = None,
) -> tuple[TextClassifier, TrainingReport]:
    """Train a classifier of `space` on annotated texts, starting from `base_model`, or
    from a saved classifier of the same labels (warm start: its encoder and head go on
    learning, so fewer epochs reach the same place). `weights`, one per text, let some
    texts (pseudo-labelled ones) count less in both the pair stage and the probe."""
    config = config or TrainingConfig()
    counts = check_examples(texts, labels, space)
    started = time.monotonic()
    set_seed(config.seed)
    where = str(select_device(device))
    if start_from is None:
        model = TextClassifier.from_base(base_model, space, config.max_length, where)
    else:
        model = TextClassifier.load(start_from, where)
        model.label_space.require_same(space, start_from)
        config = replace(config, learning_rate=config.warm_learning_rate)
    targets = targets_tensor(labels, space).to(where)
    given = torch.tensor(weights, dtype=torch.float32, device=where) if weights else None
    report = TrainingReport(examples=len(texts), label_counts=counts, config=config.to_dict())
    model.network.train()
    if config.epochs > 0:
        stage = pair_stage(model, texts, targets, config, given)
        run_stage(stage, len(texts), config, report, on_progress)
    features = frozen_embeddings(model, texts, batch_size=32)
    fit_linear_probe(model.network.head, features, targets, space, config.probe_l2, given)
    if config.finetune_epochs > 0:
        model.network.train()
        stage = finetune_stage(model, texts, targets, config)
        run_stage(stage, len(texts), config, report, on_progress)
    model.network.eval()
    report.seconds = time.monotonic() - started
    return model, report
