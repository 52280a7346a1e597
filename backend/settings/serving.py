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
    span_max_chars: int = SERVING.setting(
        "SPAN_MAX_CHARS",
        20_000,
        "characters of a task's text that `/predict` reads: a span model tags them in "
        "windows, and the rest of a longer text gets no prediction (logged, and counted in "
        "`lsbert_predict_texts_cut_total`); about 0.1 to 0.5 s per 10,000 characters on "
        "one CPU thread with MiniLM",
        minimum=100,
    )
    predict_concurrency: int = SERVING.setting(
        "PREDICT_CONCURRENCY",
        1,
        "predictions each web process computes at once; more wait, up to `WEB_THREADS` "
        "less 2 (beyond: `503 busy`), so two threads always answer `/health` and `/setup`",
        minimum=1,
    )
    model_cache_size: int = SERVING.setting(
        "MODEL_CACHE_SIZE",
        8,
        "versions each web process keeps loaded (one per project): past it, the least "
        "recently used is unloaded, and loaded again on its next `/predict`; a MiniLM "
        "version takes about 100 MB",
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
        "how a CPU serves models: `onnx-int8` (ONNX Runtime, int8 weights, about 2x faster "
        "for a classifier; 2 to 3 % of labels differ from fp32 with the same accuracy; the "
        "worker exports each version and checks it against torch) or `torch` (fp32, exactly "
        "the trained model). A GPU and versions without a kept export are served by torch",
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
        "with `BASIC_AUTH_PASS`, require basic auth on every route and page but Label "
        "Studio's health check (`/health`, and `/` unless a browser asks for the page); "
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
        8,
        "threads per gunicorn process, so `/health` never waits behind a prediction: two "
        "are kept from `/predict` (see `PREDICT_CONCURRENCY`)",
        minimum=1,
    )
    web_timeout: int = WEB.setting(
        "WEB_TIMEOUT",
        120,
        "seconds a `/predict` may run: past it the request stops between two batches with "
        "`503 prediction_timeout` (Label Studio waits 100 s); also gunicorn's timeout for a "
        "worker process that stops answering its master, which is then restarted",
        minimum=5,
    )
    request_max_mb: int = WEB.setting(
        "REQUEST_MAX_MB",
        20,
        "largest request body in MB (2^20 bytes), refused with `413 payload_too_large` before "
        "it is read; 500 tasks of a span project with 2,000-character texts, two annotations "
        "and one prediction of 20 regions each, as Label Studio sends them, take 7 MB",
        minimum=1,
    )
