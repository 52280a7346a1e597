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

from backend.embedded_redis import start_redis
from backend.settings import Settings

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
STOP_GRACE = 15.0  # seconds a child gets to stop before it is killed


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
        log.info("embedded Redis at %s, data in %s", url, self.settings.embedded_redis_dir)
        return url

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
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
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    log.error(
                        "%s exited with code %s: stopping everything", name, process.returncode
                    )
                    return 1
            sleep(0.2)
        return 0
