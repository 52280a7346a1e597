"""Predictions as Label Studio stores them: one item per task, in order, with scored
choices and spans. `/predict` answers with them, and the worker's push stores them in bulk:
both go through `predict_tasks`, so a task gets the same prediction either way.

Each item's `score` is the model's certainty for the task, so that ascending order puts
first the tasks most useful to label next (Label Studio sorts by it and its uncertainty
sampling serves the lowest first). Per control: single choice, the chosen label's
probability; multiple choice, the mean over all labels of the certainty of each yes or no
(p or 1 - p); spans, the mean probability of the tag chosen for every word, entity or not.
With several controls, their mean. `margin` (kept beside the item, not sent to Label
Studio's /predict) is the finer figure: how far the least sure decision of the task is from
flipping, the smallest over its controls of: single choice, the top probability minus the
runner-up's; multiple choice, the smallest |2p - 1| over labels; spans, the smallest gap
over words between the chosen tag's probability and the next best tag's.

How much one prediction reads is bounded (`Reading`): each text up to SPAN_MAX_CHARS
characters (a span model reads every window of that much, and would otherwise take minutes
and gigabytes on a long document), and `/predict` stops itself past WEB_TIMEOUT (a thread of
a threaded worker cannot be stopped from outside).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING

from backend.errors import PredictionTimeout
from backend.label_config import CHOICES, Control, LabelConfig
from backend.store import UNTRAINED, ModelStore

if TYPE_CHECKING:
    from backend.settings import Settings
    from model.classifier import Prediction
    from model.loading import Model
    from model.token_classifier import SpanPrediction

log = logging.getLogger(__name__)
LONG_READ = 10_000  # characters read by one request past which freed memory goes back
CUT_WITHIN = 200  # characters before the limit where a cut looks for a space


@dataclass
class Reading:
    """How tasks are read: texts per forward pass, characters per text (SPAN_MAX_CHARS),
    and whom to tell how many texts were cut."""

    batch_size: int
    max_chars: int
    on_cut: Callable[[int], None] = dataclasses.field(default=lambda count: None)

    @classmethod
    def of(cls, settings: Settings, on_cut: Callable[[int], None] | None = None) -> Reading:
        return cls(settings.predict_batch_size, settings.span_max_chars, on_cut or (lambda n: None))


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


@dataclass
class LoadedVersion:
    version: str
    models: dict[str, Model] = dataclasses.field(default_factory=dict)  # control name -> model


def load_version(
    store: ModelStore, project: int, version: str, device: str, runtime: str
) -> LoadedVersion:
    """Every control's model of a stored version, as its record names them."""
    from model.loading import load_model
    from model.runtime import select_device

    target = str(select_device(device))
    record = store.read_version(project, version)
    folder = store.version_dir(project, version)
    models = {
        entry.control: load_model(entry.kind, folder / entry.folder, target, runtime)
        for entry in record.controls
    }
    return LoadedVersion(version, models)


class TaskResults:
    """The results of one task, and the confidence and margin of each control that
    predicted it."""

    def __init__(self) -> None:
        self.result: list[dict] = []
        self.scores: list[float] = []
        self.margins: list[float] = []

    @property
    def score(self) -> float | None:
        # The prediction score Label Studio sorts by: the mean confidence of the controls.
        return round(fmean(self.scores), 4) if self.scores else None

    @property
    def margin(self) -> float | None:
        return round(min(self.margins), 4) if self.margins else None

    def item(self, version: str) -> dict:
        item: dict = {"result": self.result, "model_version": version}
        if self.scores:
            item["score"] = self.score
        return item


def predict_tasks(
    tasks: Sequence[object],
    config: LabelConfig,
    loaded: LoadedVersion | None,
    reading: Reading,
    deadline: Deadline | None = None,
) -> list[dict]:
    version = loaded.version if loaded else UNTRAINED
    answers = task_results(tasks, config, loaded, reading, deadline)
    return [answer.item(version) for answer in answers]


def task_results(
    tasks: Sequence[object],
    config: LabelConfig,
    loaded: LoadedVersion | None,
    reading: Reading,
    deadline: Deadline | None = None,
) -> list[TaskResults]:
    """Each task's results, scores and margins, in the order of `tasks`."""
    answers = [TaskResults() for _ in tasks]
    work = []
    for control in config.controls:
        model = loaded.models.get(control.name) if loaded else None
        if model is None or set(model.label_space.labels) != set(control.labels):
            # Before the first training, nothing: never a random head's guess. After the
            # config's labels changed, nothing either until a model of the new ones exists.
            continue
        indexes, texts = texts_of(tasks, control.field, reading)
        if texts:
            work.append((control, model, indexes, texts))
    if not work:
        return answers
    deadline = deadline or Deadline(float("inf"), 0)
    deadline.total = sum(len(texts) for *_, texts in work)
    for control, model, indexes, texts in work:
        for batch in length_sorted(indexes, texts, reading.batch_size):
            deadline.check()
            predictions: Sequence[Prediction | SpanPrediction] = model.predict(
                [text for _, text in batch], reading.batch_size
            )
            for (index, _), prediction in zip(batch, predictions, strict=True):
                add_prediction(answers[index], control, prediction)
            deadline.done += len(batch)
    if sum(len(text) for *_, texts in work for text in texts) > LONG_READ:
        from model.runtime import release_unused_memory

        release_unused_memory()
    return answers


def length_sorted(
    indexes: list[int], texts: list[str], batch_size: int
) -> list[list[tuple[int, str]]]:
    """(task index, text) in batches of similar length, as the models batch them."""
    pairs = sorted(zip(indexes, texts, strict=True), key=lambda pair: len(pair[1]))
    return [pairs[start : start + batch_size] for start in range(0, len(pairs), batch_size)]


def texts_of(
    tasks: Sequence[object], data_field: str, reading: Reading
) -> tuple[list[int], list[str]]:
    """The tasks with text in `data_field`, and their texts up to the limit."""
    indexes, texts, longer = [], [], 0
    for index, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get(data_field) if isinstance(data, dict) else None
        if isinstance(text, str) and text.strip():
            indexes.append(index)
            texts.append(cut(text, reading.max_chars))
            longer += len(text) > reading.max_chars
    if longer:
        log.info(
            "%d text(s) in $%s longer than SPAN_MAX_CHARS=%d: read the first %d characters",
            longer,
            data_field,
            reading.max_chars,
            reading.max_chars,
        )
        reading.on_cut(longer)
    return indexes, texts


def cut(text: str, limit: int) -> str:
    """The first `limit` characters, ending at a space if one is near, so no word is cut."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", limit - CUT_WITHIN, limit)
    return text[: space if space > 0 else limit]


def add_prediction(
    answer: TaskResults, control: Control, prediction: Prediction | SpanPrediction
) -> None:
    answer.scores.append(prediction.score)
    answer.margins.append(prediction.margin)
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
