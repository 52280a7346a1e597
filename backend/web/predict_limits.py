"""Bounded work per /predict: each text is read up to SPAN_MAX_CHARS characters (a span
model reads every window of that much, and would otherwise take minutes and gigabytes on a
long document); at most PREDICT_CONCURRENCY predictions compute at once per web process,
while two of its threads are always free for /health and /setup; and a prediction stops
itself past WEB_TIMEOUT (a thread of a threaded worker cannot be stopped from outside).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from backend.errors import Busy, PredictionTimeout

LIGHT_ROUTE_THREADS = 2  # threads of a web process that /predict never takes
CUT_WITHIN = 200  # characters before the limit where a cut looks for a space


class PredictionSlots:
    """At most `computing` predictions at once, and at most `admitted` requests computing
    or waiting for a turn: a request past that is answered `503 busy` at once, instead of
    taking the threads /health and /setup need."""

    def __init__(self, computing: int, admitted: int) -> None:
        self.computing = threading.BoundedSemaphore(computing)
        self.admitted = threading.BoundedSemaphore(max(1, admitted))

    @classmethod
    def for_threads(cls, computing: int, web_threads: int) -> PredictionSlots:
        return cls(computing, web_threads - LIGHT_ROUTE_THREADS)

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not self.admitted.acquire(blocking=False):
            raise Busy(
                "this web process is busy with other predictions",
                "send the request again in a moment; to answer more at once, raise "
                "WEB_WORKERS (processes) or WEB_THREADS",
            )
        try:
            with self.computing:
                yield
        finally:
            self.admitted.release()


@dataclass
class PredictLimits:
    """How much one /predict may take: texts per forward pass, characters per text, a turn."""

    batch_size: int
    max_chars: int
    slots: PredictionSlots
    on_cut: Callable[[int], None] = field(default=lambda count: None)


def cut(text: str, limit: int) -> str:
    """The first `limit` characters, ending at a space if one is near, so no word is cut."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", limit - CUT_WITHIN, limit)
    return text[: space if space > 0 else limit]


class Deadline:
    """When a /predict must stop (WEB_TIMEOUT after it began), checked between batches."""

    def __init__(self, at: float, seconds: float) -> None:
        self.at, self.seconds = at, seconds
        self.done, self.total = 0, 0

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise PredictionTimeout(
                f"/predict ran past WEB_TIMEOUT={self.seconds:g} s and stopped after "
                f"{self.done} of {self.total} texts",
                "send fewer tasks per request (select fewer in Label Studio's Data Manager), "
                "or raise WEB_TIMEOUT (Label Studio waits 100 s)",
            )
