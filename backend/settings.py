"""All settings, read from the environment in this one module and checked at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from backend.errors import ConfigError

T = TypeVar("T")
DEVICES = ("AUTO", "CPU", "CUDA")
# the name model.int8_runtime.RUNTIME gives it; not imported, so that settings never import torch
INT8_RUNTIME = "onnx-int8"
RUNTIMES = (INT8_RUNTIME.upper(), "TORCH")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def default_torch_threads() -> int:
    # Web and worker each get half the cores: on two cores, one thread each keeps a
    # prediction at ~30 ms while training runs, where two each make it 40x slower.
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class Settings:
    label_studio_url: str = ""
    label_studio_api_key: str = ""
    redis_url: str = ""
    model_dir: Path = Path("data/models")
    embedded_redis_dir: Path = Path("data/redis")
    base_model: str = "bundled"
    basic_auth_user: str = ""
    basic_auth_pass: str = ""
    log_level: str = "INFO"
    train_epochs: int = 8
    train_learning_rate: float = 1e-4
    train_batch_size: int = 32
    train_finetune_epochs: int = 0
    train_finetune_learning_rate: float = 5e-5
    train_span_epochs: int = 20
    holdout_share: float = 0.1
    holdout_min_annotations: int = 20
    cross_validation_folds: int = 3
    train_min_annotations: int = 10
    train_every_changes: int = 10
    warm_start: bool = True
    train_warm_epochs: int = 2
    train_span_warm_epochs: int = 5
    gate_tolerance: float = 0.01
    keep_versions: int = 10
    train_max_length: int = 128
    train_max_steps: int = 1500
    train_seed: int = 42
    train_job_timeout: int = 3600
    predict_batch_size: int = 32
    device: str = "auto"
    inference_runtime: str = INT8_RUNTIME
    web_torch_threads: int = 1
    worker_torch_threads: int = 1
    web_workers: int = 1
    web_threads: int = 4
    web_timeout: int = 120
    label_studio_timeout: float = 30.0

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Reader(os.environ if environ is None else environ)
        settings = cls(
            label_studio_url=env.url("LABEL_STUDIO_URL"),
            label_studio_api_key=env.text("LABEL_STUDIO_API_KEY"),
            redis_url=env.redis_url("REDIS_URL"),
            model_dir=Path(env.text("MODEL_DIR", "data/models")),
            embedded_redis_dir=Path(env.text("EMBEDDED_REDIS_DIR", "data/redis")),
            base_model=env.text("BASE_MODEL", "bundled"),
            basic_auth_user=env.text("BASIC_AUTH_USER"),
            basic_auth_pass=env.text("BASIC_AUTH_PASS"),
            log_level=env.choice("LOG_LEVEL", LOG_LEVELS, "INFO"),
            train_epochs=env.number("TRAIN_EPOCHS", int, 8, minimum=0),
            train_learning_rate=env.number("TRAIN_LEARNING_RATE", float, 1e-4, minimum=1e-8),
            train_batch_size=env.number("TRAIN_BATCH_SIZE", int, 32, minimum=2),
            train_finetune_epochs=env.number("TRAIN_FINETUNE_EPOCHS", int, 0, minimum=0),
            train_finetune_learning_rate=env.number(
                "TRAIN_FINETUNE_LEARNING_RATE", float, 5e-5, minimum=1e-8
            ),
            train_span_epochs=env.number("TRAIN_SPAN_EPOCHS", int, 20, minimum=1),
            holdout_share=env.number("HOLDOUT_SHARE", float, 0.1, minimum=0.0),
            holdout_min_annotations=env.number("HOLDOUT_MIN_ANNOTATIONS", int, 20, minimum=2),
            cross_validation_folds=env.number("CROSS_VALIDATION_FOLDS", int, 3, minimum=0),
            train_min_annotations=env.number("TRAIN_MIN_ANNOTATIONS", int, 10, minimum=1),
            train_every_changes=env.number("TRAIN_EVERY_CHANGES", int, 10, minimum=1),
            warm_start=env.flag("WARM_START", True),
            train_warm_epochs=env.number("TRAIN_WARM_EPOCHS", int, 2, minimum=1),
            train_span_warm_epochs=env.number("TRAIN_SPAN_WARM_EPOCHS", int, 5, minimum=1),
            gate_tolerance=env.number("GATE_TOLERANCE", float, 0.01, minimum=0.0),
            keep_versions=env.number("KEEP_VERSIONS", int, 10, minimum=1),
            train_max_length=env.number("TRAIN_MAX_LENGTH", int, 128, minimum=8),
            train_max_steps=env.number("TRAIN_MAX_STEPS", int, 1500, minimum=1),
            train_seed=env.number("TRAIN_SEED", int, 42, minimum=0),
            train_job_timeout=env.number("TRAIN_JOB_TIMEOUT", int, 3600, minimum=10),
            predict_batch_size=env.number("PREDICT_BATCH_SIZE", int, 32, minimum=1),
            device=env.choice("DEVICE", DEVICES, "auto").lower(),
            inference_runtime=env.choice("INFERENCE_RUNTIME", RUNTIMES, INT8_RUNTIME).lower(),
            web_torch_threads=env.number(
                "WEB_TORCH_THREADS", int, default_torch_threads(), minimum=1
            ),
            worker_torch_threads=env.number(
                "WORKER_TORCH_THREADS", int, default_torch_threads(), minimum=1
            ),
            web_workers=env.number("WEB_WORKERS", int, 1, minimum=1),
            web_threads=env.number("WEB_THREADS", int, 4, minimum=1),
            web_timeout=env.number("WEB_TIMEOUT", int, 120, minimum=5),
            label_studio_timeout=env.number("LABEL_STUDIO_TIMEOUT", float, 30.0, minimum=1.0),
        )
        settings.check_consistency()
        return settings

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
        if self.holdout_share > 0.5:
            raise ConfigError(
                f"HOLDOUT_SHARE={self.holdout_share} keeps too little for training: use a "
                "share between 0 (no held-out evaluation) and 0.5"
            )
        if self.gate_tolerance > 1:
            raise ConfigError(
                f"GATE_TOLERANCE={self.gate_tolerance} is a share of the metric, not points: "
                "use e.g. 0.01 for one point"
            )
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


class _Reader:
    """Reads and checks one variable at a time; every error names the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str = "") -> str:
        return self.environ.get(name, "").strip() or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not valid: use one of {', '.join(allowed)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        if value not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{name}={value!r} is not valid: use true or false")
        return value in ("true", "1", "yes")

    def url(self, name: str) -> str:
        value = self.text(name).rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ConfigError(
                f"{name}={value!r} is not an http(s) URL: write it like http://localhost:8080"
            )
        return value

    def redis_url(self, name: str) -> str:
        value = self.text(name)
        if value and not value.startswith(REDIS_SCHEMES):
            raise ConfigError(
                f"{name}={value!r} is not a Redis URL: write it like redis://localhost:6379/0"
            )
        return value

    def number(self, name: str, kind: Callable[[str], T], default: T, minimum: float) -> T:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(
                f"{name}={raw!r} is not a valid {kind.__name__}: set it to a number, "
                f"e.g. {name}={default}"
            ) from None
        if value < minimum:  # type: ignore[operator]
            raise ConfigError(f"{name}={raw!r} is too small: it must be at least {minimum}")
        return value
