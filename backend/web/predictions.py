"""Label Studio /predict: one item per task, in order, with scored choices and spans."""

from __future__ import annotations

import time
from collections.abc import Sequence
from statistics import fmean
from typing import TYPE_CHECKING

from backend.errors import PredictionTimeout
from backend.label_config import CHOICES, Control, LabelConfig
from backend.store import UNTRAINED
from backend.web.model_cache import LoadedVersion

if TYPE_CHECKING:
    from model.classifier import Prediction
    from model.token_classifier import SpanPrediction


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


class Deadline:
    """When a /predict must stop (WEB_TIMEOUT after it began), checked between batches: a
    thread of a threaded worker cannot be stopped from outside, so it stops itself."""

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


def predict_tasks(
    tasks: Sequence[object],
    config: LabelConfig,
    loaded: LoadedVersion | None,
    batch_size: int,
    deadline: Deadline | None = None,
) -> list[dict]:
    version = loaded.version if loaded else UNTRAINED
    answers = [TaskResults() for _ in tasks]
    runs = []
    for control in config.controls:
        model = loaded.models.get(control.name) if loaded else None
        if model is None or set(model.label_space.labels) != set(control.labels):
            # Before the first training, nothing: never a random head's guess. After the
            # config's labels changed, nothing either until a model of the new ones exists.
            continue
        indexes, texts = texts_of(tasks, control.field)
        if texts:
            runs.append((control, model, indexes, texts))
    deadline = deadline or Deadline(float("inf"), 0)
    deadline.total = sum(len(texts) for *_, texts in runs)
    for control, model, indexes, texts in runs:
        for batch in length_sorted(indexes, texts, batch_size):
            deadline.check()
            batch_texts = [text for _, text in batch]
            predictions: Sequence[Prediction | SpanPrediction] = model.predict(
                batch_texts, batch_size
            )
            for (index, _), prediction in zip(batch, predictions, strict=True):
                add_prediction(answers[index], control, prediction)
            deadline.done += len(batch)
    return [answer.item(version) for answer in answers]


def length_sorted(
    indexes: list[int], texts: list[str], batch_size: int
) -> list[list[tuple[int, str]]]:
    """(task index, text) in batches of similar length, as the models batch them."""
    pairs = sorted(zip(indexes, texts, strict=True), key=lambda pair: len(pair[1]))
    return [pairs[start : start + batch_size] for start in range(0, len(pairs), batch_size)]


def texts_of(tasks: Sequence[object], field: str) -> tuple[list[int], list[str]]:
    indexes, texts = [], []
    for index, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get(field) if isinstance(data, dict) else None
        if isinstance(text, str) and text.strip():
            indexes.append(index)
            texts.append(text)
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
