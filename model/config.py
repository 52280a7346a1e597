"""Hyper-parameters of the two trainings and their defaults, written once.

Free of torch and transformers: backend.settings takes its training defaults from here, and
the web side imports settings in a gunicorn master that must never load torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# One cap and one seed for both trainings: TRAIN_MAX_STEPS and TRAIN_SEED set both.
MAX_STEPS = 1500
SEED = 42


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one training run; the defaults suit a few dozen to a few
    thousand labels on a CPU."""

    epochs: int = 8  # passes of the pair stage over the annotations (0: probe only)
    learning_rate: float = 1e-4  # peak learning rate of the pair stage
    # ...of a warm start's pair stage, which replays every annotation on a tuned encoder
    warm_learning_rate: float = 2e-5
    batch_size: int = 32  # texts per step; the pair stage compares all pairs of a batch
    finetune_epochs: int = 0  # passes of cross-entropy fine-tuning after the probe
    finetune_learning_rate: float = 5e-5  # peak encoder learning rate there; the head gets 10x
    max_length: int = 128  # tokens per text; longer texts are truncated
    max_steps: int = MAX_STEPS  # cap on optimiser steps per stage, for bounded training time
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    probe_l2: float = 1e-3  # L2 penalty of the linear probe
    seed: int = SEED

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class SpanTrainingConfig:
    """Hyper-parameters of one span-tagger run; defaults suit a few hundred short texts."""

    epochs: int = 20  # passes over the training windows
    learning_rate: float = 1e-4  # peak encoder learning rate
    head_learning_rate: float = 1e-3  # the new linear head learns faster than the encoder
    batch_size: int = 8  # windows per step: small batches, more steps on few annotations
    max_length: int = 128  # tokens per window
    stride: int = 32  # tokens shared by consecutive windows of a long text
    outside_weight: float = 1.0  # loss weight of the O tag relative to entity tags
    all_pieces: bool = True  # label every word piece, not only the first of each word
    word_level: bool = True  # decode whole words (first piece) rather than pieces
    max_steps: int = MAX_STEPS  # cap on optimiser steps, so big projects train in bounded time
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = SEED

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def stage_config(self) -> TrainingConfig:
        """The settings `run_stage` reads, in the classifier's config type."""
        return TrainingConfig(
            max_steps=self.max_steps,
            warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay,
            seed=self.seed,
        )
