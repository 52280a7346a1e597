"""Label Studio /predict: one item per task, in order, with scored choices and spans.

Bounded work per request: each text is read up to SPAN_MAX_CHARS characters (a span model
reads every window of that much, and would otherwise take minutes and gigabytes on a
long document), and at most PREDICT_CONCURRENCY predictions compute at once per web
process, while two of its threads are always free for /health and /setup.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import fmean
from typing import TYPE_CHECKING

from backend.errors import Busy
from backend.label_config import CHOICES, Control, LabelConfig
from backend.store import UNTRAINED
from backend.web.model_cache import LoadedVersion

if TYPE_CHECKING:
    from model.classifier import Prediction
    from model.token_classifier import SpanPrediction


log = logging.getLogger(__name__)
LIGHT_ROUTE_THREADS = 2  # threads of a web process that /predict never takes
CUT_WITHIN = 200  # characters before the limit where a cut looks for a space
LONG_READ = 10_000  # characters read by one request past which freed memory goes back


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


class TaskResults:
    """The results of one task, and the confidence of each control that predicted it."""

    def __init__(self) -> None:
        self.result: list[dict] = []
        self.scores: list[float] = []

    def item(self, version: str) -> dict:
        item: dict = {"result": self.result, "model_version": version}
        if self.scores:
            # The prediction score Label Studio sorts by: the mean confidence of the controls.
            item["score"] = round(fmean(self.scores), 4)
        return item


def predict_tasks(
    tasks: Sequence[object],
    config: LabelConfig,
    loaded: LoadedVersion | None,
    limits: PredictLimits,
) -> list[dict]:
    version = loaded.version if loaded else UNTRAINED
    answers = [TaskResults() for _ in tasks]
    work = []
    for control in config.controls:
        model = loaded.models.get(control.name) if loaded else None
        if model is None or set(model.label_space.labels) != set(control.labels):
            # Before the first training, nothing: never a random head's guess. After the
            # config's labels changed, nothing either until a model of the new ones exists.
            continue
        indexes, texts = texts_of(tasks, control.field, limits)
        if texts:
            work.append((control, model, indexes, texts))
    if not work:
        return [answer.item(version) for answer in answers]
    with limits.slots.turn():
        for control, model, indexes, texts in work:
            predictions: Sequence[Prediction | SpanPrediction] = model.predict(
                texts, limits.batch_size
            )
            for index, prediction in zip(indexes, predictions, strict=True):
                add_prediction(answers[index], control, prediction)
        if sum(len(text) for *_, texts in work for text in texts) > LONG_READ:
            from model.runtime import release_unused_memory

            release_unused_memory()
    return [answer.item(version) for answer in answers]


def texts_of(
    tasks: Sequence[object], data_field: str, limits: PredictLimits
) -> tuple[list[int], list[str]]:
    """The tasks with text in `data_field`, and their texts up to the limit."""
    indexes, texts, longer = [], [], 0
    for index, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get(data_field) if isinstance(data, dict) else None
        if isinstance(text, str) and text.strip():
            indexes.append(index)
            texts.append(cut(text, limits.max_chars))
            longer += len(text) > limits.max_chars
    if longer:
        log.info(
            "%d text(s) in $%s longer than SPAN_MAX_CHARS=%d: read the first %d characters",
            longer,
            data_field,
            limits.max_chars,
            limits.max_chars,
        )
        limits.on_cut(longer)
    return indexes, texts


def add_prediction(
    answer: TaskResults, control: Control, prediction: Prediction | SpanPrediction
) -> None:
    answer.scores.append(prediction.score)
    if control.kind == CHOICES:
        if prediction.labels:  # type: ignore[union-attr]
            answer.result.append(choices_result(control, prediction))  # type: ignore[arg-type]
        return
    answer.result.extend(span_result(control, span) for span in prediction.spans)  # type: ignore[union-attr]


def choices_result(control: Control, prediction: Prediction) -> dict:
    return {
        "from_name": control.name,
        "to_name": control.to_name,
        "type": "choices",
        "value": {"choices": list(prediction.labels)},
        "score": round(prediction.score, 4),
    }


def span_result(control: Control, span) -> dict:  # type: ignore[no-untyped-def]
    return {
        "from_name": control.name,
        "to_name": control.to_name,
        "type": "labels",
        "value": {"start": span.start, "end": span.end, "text": span.text, "labels": [span.label]},
        "score": round(float(span.score or 0.0), 4),
    }
