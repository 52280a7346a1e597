"""The server `lsbert bench` measures: `lsbert serve` in a child process, on a temporary
MODEL_DIR with its embedded Redis, the requests Label Studio sends it, and its memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from backend.serve.embedded_redis import free_port
from backend.serve.supervisor import child_options
from backend.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# Webhook mode, no auth, no Redis of the user's: the benchmark owns everything it talks to.
DROPPED_VARIABLES = ("LABEL_STUDIO_", "BASIC_AUTH_", "REDIS_URL")
# Annotation counts no benchmark reaches: only START_TRAINING trains, when the bench says.
NEVER = "1000000"
REQUEST_TIMEOUT = 600.0  # seconds; a 500-task /predict on a slow CPU takes a while
START_TIMEOUT = 180.0
POLL = 0.1  # seconds between looks at something the server is doing
# The server's projects: one serves a classifier the bench trained, one trains while
# latency is measured, one receives the annotation events whose latency is measured, and
# the timed training runs take one each from the last on.
PREDICT_PROJECT, BUSY_PROJECT, EVENTS_PROJECT, FIRST_TIMED_PROJECT = 1, 2, 3, 10


class BenchError(Exception):
    """The benchmark cannot go on; the message says what went wrong."""


def server_env(folder: Path, base_model: str, settings: Settings) -> dict[str, str]:
    """The user's environment (their training settings are what is measured), with the
    benchmark's own store, Redis, and triggers."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_VARIABLES)}
    return {
        **keep,
        "MODEL_DIR": str(folder / "models"),
        "EMBEDDED_REDIS_DIR": str(folder / "redis"),
        "BASE_MODEL": base_model,
        "TRAIN_MIN_ANNOTATIONS": NEVER,
        "TRAIN_EVERY_CHANGES": NEVER,
        # The gate still scores both models, but may not keep a warm run from serving:
        # the time to a new version must end in one.
        "GATE_TOLERANCE": "1",
        "WEB_TORCH_THREADS": str(settings.web_torch_threads),
        "WORKER_TORCH_THREADS": str(settings.worker_torch_threads),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def wait_until(condition: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise BenchError(f"{what} within {timeout:.0f} s")


class Server:
    """`lsbert serve` on a free loopback port, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)]
        with log.open("ab") as out:
            # its own session, so a Ctrl-C reaches the bench, which stops it in order; and
            # SIGTERM from the kernel should the bench die without stopping it
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, **child_options()
            )
        try:
            wait_until(self.healthy, START_TIMEOUT, 0.2, "lsbert serve did not answer /health")
        except BenchError as error:
            self.stop()
            raise BenchError(f"{error}; its log ends with:\n{self.log_tail()}") from None

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise BenchError(
                f"lsbert serve exited with code {self.process.returncode}; its log ends "
                f"with:\n{self.log_tail()}"
            )
        try:
            return self.session.get(self.url + "/health", timeout=2).json()["status"] == "UP"
        except (requests.RequestException, ValueError, KeyError):
            return False

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.session.request(method, self.url + path, json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code >= 400:
            raise BenchError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def post(self, path: str, body: dict) -> dict:
        return self.call("POST", path, body)

    def get(self, path: str) -> dict:
        return self.call("GET", path)

    def timed_post(self, path: str, body: dict) -> tuple[float, dict]:
        """Milliseconds of one request, answer included, and the answer."""
        started = time.perf_counter()
        answer = self.post(path, body)
        return (time.perf_counter() - started) * 1000, answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.session.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def check_answer(answer: dict, version: str, tasks: int) -> None:
    """A /predict answer from the expected version, with a prediction for every task."""
    results = answer.get("results") or []
    if answer.get("model_version") != version or len(results) != tasks:
        raise BenchError(f"/predict answered {answer!r:.300}, not {tasks} results of {version}")
    if not all(item["result"] for item in results):
        raise BenchError(f"/predict left tasks without a prediction: {results!r:.300}")


def task_body(task_id: int, field: str, text: str) -> dict:
    return {"id": task_id, "data": {field: text}, "annotations": [], "predictions": []}


def annotation_event(project: int, task: dict, result: list[dict], label_config: str) -> dict:
    """ANNOTATION_CREATED as Label Studio 1.23 sends it, the project's config included."""
    return {
        "action": "ANNOTATION_CREATED",
        "project": {"id": project, "title": "lsbert bench", "label_config": label_config},
        "task": task,
        "annotation": {
            "id": task["id"],
            "task": task["id"],
            "project": project,
            "result": result,
            "was_cancelled": False,
        },
    }


def predict_body(project: int, tasks: list[dict], label_config: str) -> dict:
    return {
        "tasks": tasks,
        "project": f"{project}.1763800000",
        "label_config": label_config,
        "params": {"login": None, "password": None, "context": None},
    }


def setup_body(project: int, label_config: str) -> dict:
    return {
        "project": f"{project}.1763800000",
        "schema": label_config,
        "hostname": "http://localhost:8080",
        "access_token": "not-used",
        "extra_params": {},
    }


def start_training(project: int, full: bool = False) -> dict:
    body: dict = {"action": "START_TRAINING", "project": {"id": project}}
    return {**body, "full_retrain": True} if full else body


PSUTIL_MISSING = "psutil is not installed (pip install psutil; the project's test extra has it)"


def role_of(process: Any) -> str:
    """web (the gunicorn worker that predicts), web master, worker, redis or supervisor;
    gunicorn's master and workers share a command line, so the tree tells them apart."""
    command = process.cmdline()
    if "worker" in command:
        return "worker"
    if any("redis-server" in part for part in command):
        return "redis"
    if "web" in command:
        parent = process.parent()
        return "web" if parent is not None and "web" in parent.cmdline() else "web master"
    return "supervisor" if "serve" in command else "other"


class MemorySampler:
    """Peak resident memory of the server's processes by role, each role's processes
    summed, sampled from a thread for as long as the benchmark runs."""

    def __init__(self, root_pid: int, every: float = 0.25) -> None:
        self.root_pid, self.every = root_pid, every
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="lsbert-bench-memory", daemon=True)
        try:
            import psutil
        except ImportError:
            self.psutil = None
            return
        self.psutil = psutil
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.every)

    def sample(self) -> None:
        psutil = self.psutil
        assert psutil is not None
        totals: dict[str, int] = {}
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                role = role_of(process)
                totals[role] = totals.get(role, 0) + process.memory_info().rss
            except psutil.Error:  # gone between listing and reading: the next sample counts
                continue
        for role, rss in totals.items():
            self.peaks[role] = max(self.peaks.get(role, 0), rss)
        self.samples += 1

    def stop(self) -> dict:
        if self.psutil is None:
            return {"available": False, "note": PSUTIL_MISSING}
        self.stopped.set()
        self.thread.join()
        mib = {role: round(rss / 2**20, 1) for role, rss in sorted(self.peaks.items())}
        return {"available": True, "samples": self.samples, "peak_rss_mib": mib}
