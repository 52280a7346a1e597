"""The server `lsbert bench` measures (`lsbert serve` in a child process, on a temporary
MODEL_DIR with its embedded Redis), the checks of its answers, and its memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backend.clock import Periodic
from backend.settings import Settings
from backend.tools.serve_process import ServeError

# Webhook mode, no auth, no Redis of the user's: the benchmark owns everything it talks to.
DROPPED_VARIABLES = ("LABEL_STUDIO_", "BASIC_AUTH_", "REDIS_URL")
# Annotation counts no benchmark reaches: only START_TRAINING trains, when the bench says.
NEVER = "1000000"
POLL = 0.1  # seconds between looks at something the server is doing
# The server's projects: one serves a classifier the bench trained, one trains while
# latency is measured, one receives the annotation events whose latency is measured, and
# the timed training runs take one each from the last on.
PREDICT_PROJECT, BUSY_PROJECT, EVENTS_PROJECT, FIRST_TIMED_PROJECT = 1, 2, 3, 10


class BenchError(ServeError):
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


def check_answer(answer: dict, version: str, tasks: int) -> None:
    """A /predict answer from the expected version, with a prediction for every task."""
    results = answer.get("results") or []
    if answer.get("model_version") != version or len(results) != tasks:
        raise BenchError(f"/predict answered {answer!r:.300}, not {tasks} results of {version}")
    if not all(item["result"] for item in results):
        raise BenchError(f"/predict left tasks without a prediction: {results!r:.300}")


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
        self.sampler = Periodic(self.sample, every, "lsbert-bench-memory")
        try:
            import psutil
        except ImportError:
            self.psutil = None
            return
        self.psutil = psutil
        self.sampler.start()

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
        self.sampler.stop()
        mib = {role: round(rss / 2**20, 1) for role, rss in sorted(self.peaks.items())}
        return {"available": True, "samples": self.samples, "peak_rss_mib": mib}
