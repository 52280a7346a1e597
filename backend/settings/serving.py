"""How models are served: the runtime, devices, threads and logs of every process, and
the web server with its basic auth."""

from __future__ import annotations

import os
from dataclasses import dataclass

from backend.settings.fields import Group, choice

DEVICES = ("AUTO", "CPU", "CUDA")
# the name model.int8_runtime.RUNTIME gives it; not imported, so that settings never import torch
INT8_RUNTIME = "onnx-int8"
RUNTIMES = (INT8_RUNTIME.upper(), "TORCH")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

SERVING = Group("Serving")
PROCESSES = Group("Devices, threads and logs")
WEB = Group("Web server")


def default_torch_threads() -> int:
    # Web and worker each get half the cores: on two cores, one thread each keeps a
    # prediction at ~30 ms while training runs, where two each make it 40x slower.
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True, repr=False)
class ServingSettings:
    predict_batch_size: int = SERVING.setting(
        "PREDICT_BATCH_SIZE",
        32,
        "texts per forward pass in `/predict` (texts of similar length are batched together)",
        minimum=1,
    )
    suggest_model_wait: float = SERVING.setting(
        "SUGGEST_MODEL_WAIT",
        0.05,
        "seconds an interactive suggestion waits for the span model on a text it has not "
        "read yet; past it, the answer holds the other mentions alone and the model's "
        "entities come with the next region drawn on the task (Label Studio's page waits)",
        minimum=0.0,
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
