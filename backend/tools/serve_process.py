"""`lsbert serve` in a child process on a free loopback port, logging to a file: the server
`lsbert bench` measures, and the one the tests talk to as Label Studio would."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from backend.clock import wait_until
from backend.serve.embedded_redis import free_port
from backend.serve.supervisor import child_options

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0  # seconds; the first start imports torch and may build a venv's caches
REQUEST_TIMEOUT = 600.0  # seconds; a 500-task /predict on a slow CPU takes a while
STOP_TIMEOUT = 60.0


class ServeError(Exception):
    """The server did not start, stopped, or refused a request; the message says which."""


class ServeProcess:
    def __init__(self, env: dict[str, str], log: Path, start_timeout: float = START_TIMEOUT):
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()
        command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(self.port)]
        with log.open("ab") as out:
            # its own session, so a Ctrl-C reaches the caller, which stops it in order; and
            # SIGTERM from the kernel should the caller die without stopping it
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, **child_options()
            )
        try:
            wait_until(self.healthy, start_timeout, 0.1, "lsbert serve did not answer /health")
        except TimeoutError as error:
            self.stop()
            raise ServeError(f"{error}; its log ends with:\n{self.log_tail()}") from None

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise ServeError(
                f"lsbert serve exited with code {self.process.returncode}; its log ends "
                f"with:\n{self.log_tail()}"
            )
        return health_is_up(self.session, self.url, timeout=2)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """The JSON answer of a request; ServeError, with the answer, on a 4xx or 5xx."""
        response = self.session.request(method, self.url + path, json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code >= 400:
            raise ServeError(f"{method} {path} answered {response.status_code}: {response.text}")
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

    def stop(self, signum: int = signal.SIGTERM) -> int | None:
        """Stop it as a user would (SIGTERM, or SIGINT for Ctrl-C); its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.session.close()
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def health_is_up(http, url: str, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    """Whether `url` answers `/health` with UP within `timeout` seconds (`http`: requests or
    a session); no answer, or any other answer, is "not yet"."""
    try:
        return http.get(url + "/health", timeout=timeout).json()["status"] == "UP"
    except (requests.RequestException, ValueError, KeyError):
        return False
