"""`lsbert serve`: embedded Redis, web server and worker as children of one command.

Children run in their own process group, so a Ctrl-C reaches this process only and it
stops them in order; each child also gets SIGTERM from the kernel if this process dies
without cleaning up, so nothing is left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from backend.serve.embedded_redis import start_redis
from backend.settings import Settings
from backend.settings.fields import without_password

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
STOP_GRACE = 15.0  # seconds a child gets to stop before it is killed
RESTART_AFTER = (1.0, 5.0, 30.0)  # seconds before restarting a worker that died, in a row
STEADY = 60.0  # a worker that ran this long before dying starts the backoff afresh


def die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def child_options() -> dict:
    return {"start_new_session": True, "preexec_fn": die_with_parent}


def stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s: killing it", name, STOP_GRACE)
        process.kill()
        process.wait()


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings, self.host, self.port = settings, host, port
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.started: dict[str, float] = {}
        self.restarts = 0
        self.stopping = False

    def request_stop(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.request_stop)
        try:
            env = dict(os.environ, REDIS_URL=self.redis_url())
            self.spawn("worker", [sys.executable, "-m", "backend.cli", "worker"], env)
            web = [
                sys.executable,
                "-m",
                "backend.cli",
                "web",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ]
            self.spawn("web", web, env)
            self.announce()
            return self.watch()
        finally:
            for name, process in reversed(self.children):
                stop(process, name)

    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        process, url = start_redis(self.settings.embedded_redis_dir, **child_options())
        self.children.append(("redis", process))
        log.info(
            "embedded Redis at %s, data in %s",
            without_password(url),
            self.settings.embedded_redis_dir,
        )
        return url

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.commands[name] = (command, env)
        self.started[name] = time.monotonic()
        self.children.append((name, subprocess.Popen(command, env=env, **child_options())))

    def announce(self) -> None:
        log.info(
            "lsbert serving on http://%s:%d (training from %s); in Label Studio, add it under "
            "Settings > Model > Connect Model",
            self.host,
            self.port,
            self.settings.training_source,
        )

    def watch(self, sleep: Callable[[float], None] = time.sleep) -> int:
        """Until asked to stop: a dead worker is restarted (its run is reported failed by
        the next worker, and the web keeps serving the current version meanwhile); a dead
        web server or Redis stops everything, since nothing works without them."""
        while not self.stopping:
            for index, (name, process) in enumerate(self.children):
                if process.poll() is None:
                    continue
                if name != "worker":
                    log.error(
                        "%s exited with code %s: stopping everything", name, process.returncode
                    )
                    return 1
                restarted = self.restart_worker(process.returncode, sleep)
                if restarted is None:
                    return 0
                self.children[index] = (name, restarted)
            sleep(0.2)
        return 0

    def restart_worker(
        self, code: int | None, sleep: Callable[[float], None]
    ) -> subprocess.Popen | None:
        """A new worker after a backoff; None when a stop was asked for meanwhile."""
        if time.monotonic() - self.started["worker"] > STEADY:
            self.restarts = 0
        delay = RESTART_AFTER[min(self.restarts, len(RESTART_AFTER) - 1)]
        self.restarts += 1
        log.error("worker exited with code %s: restarting it in %.0f s", code, delay)
        waited = 0.0
        while waited < delay:
            if self.stopping:
                return None
            sleep(0.2)
            waited += 0.2
        command, env = self.commands["worker"]
        self.started["worker"] = time.monotonic()
        return subprocess.Popen(command, env=env, **child_options())
