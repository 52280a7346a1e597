"""Time: UTC stamps in the one format the backend writes everywhere (ISO 8601 with a Z),
and work repeated every few seconds from a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


def utc_now() -> str:
    """Now, to the second: 2026-11-22T10:45:30Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def compact_stamp() -> str:
    """Now, to the second, as a version name carries it: 20261122T104530."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def iso(moment: datetime | None) -> str | None:
    """A datetime (RQ's, naive UTC or aware) to the millisecond: 2026-11-22T10:45:30.152Z."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Periodic:
    """Calls `call` from a thread of its own every `every` seconds, from `start()` (or the
    start of a `with` block) until `stop()` (its end), or until `call` returns False.
    The first call is at once unless `wait_first`."""

    def __init__(
        self, call: Callable[[], bool | None], every: float, name: str, wait_first: bool = False
    ) -> None:
        self.call, self.every, self.wait_first = call, every, wait_first
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        if self.wait_first and self.stopped.wait(self.every):
            return
        while self.call() is not False and not self.stopped.wait(self.every):
            pass

    def start(self) -> Periodic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()

    def __enter__(self) -> Periodic:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    interval: float = 0.1,
    what: str = "the condition did not hold",
    error: type[Exception] = TimeoutError,
) -> T:
    """The first truthy value of `condition`, looked at every `interval` seconds; `error`
    with `what` once `timeout` seconds have passed without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise error(f"{what} (waited {timeout:.0f} s)")
