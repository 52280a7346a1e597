"""Bounded work per web process: at most PREDICT_CONCURRENCY predictions compute at once,
while two of its threads are always free for /health and /setup. (How much one prediction
reads, and its deadline, are backend.prediction_results'.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from backend.errors import Busy

LIGHT_ROUTE_THREADS = 2  # threads of a web process that /predict never takes


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
