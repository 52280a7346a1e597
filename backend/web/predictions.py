"""Label Studio /predict: one item per task, in order, with scored choices and spans,
within the bounds of backend.web.predict_limits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from statistics import fmean
from typing import TYPE_CHECKING

from backend.label_config import CHOICES, Control, LabelConfig
from backend.store import UNTRAINED
from backend.web.model_cache import LoadedVersion
from backend.web.predict_limits import Deadline, PredictLimits, cut

if TYPE_CHECKING:
    from model.classifier import Prediction
    from model.token_classifier import SpanPrediction

log = logging.getLogger(__name__)
LONG_READ = 10_000  # characters read by one request past which freed memory goes back


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
    deadline: Deadline | None = None,
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
    deadline = deadline or Deadline(float("inf"), 0)
    deadline.total = sum(len(texts) for *_, texts in work)
    with limits.slots.turn():
        for control, model, indexes, texts in work:
            for batch in length_sorted(indexes, texts, limits.batch_size):
                deadline.check()
                predictions: Sequence[Prediction | SpanPrediction] = model.predict(
                    [text for _, text in batch], limits.batch_size
                )
                for (index, _), prediction in zip(batch, predictions, strict=True):
                    add_prediction(answers[index], control, prediction)
                deadline.done += len(batch)
        if sum(len(text) for *_, texts in work for text in texts) > LONG_READ:
            from model.runtime import release_unused_memory

            release_unused_memory()
    return [answer.item(version) for answer in answers]


def length_sorted(
    indexes: list[int], texts: list[str], batch_size: int
) -> list[list[tuple[int, str]]]:
    """(task index, text) in batches of similar length, as the models batch them."""
    pairs = sorted(zip(indexes, texts, strict=True), key=lambda pair: len(pair[1]))
    return [pairs[start : start + batch_size] for start in range(0, len(pairs), batch_size)]


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
