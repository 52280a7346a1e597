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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING

from backend.label_config import CHOICES, Control, LabelConfig
from backend.store import UNTRAINED, ModelStore

if TYPE_CHECKING:
    from model.classifier import Prediction
    from model.loading import Model
    from model.token_classifier import SpanPrediction


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
    tasks: Sequence[object], config: LabelConfig, loaded: LoadedVersion | None, batch_size: int
) -> list[dict]:
    version = loaded.version if loaded else UNTRAINED
    return [answer.item(version) for answer in task_results(tasks, config, loaded, batch_size)]


def task_results(
    tasks: Sequence[object], config: LabelConfig, loaded: LoadedVersion | None, batch_size: int
) -> list[TaskResults]:
    """Each task's results, scores and margins, in the order of `tasks`."""
    answers = [TaskResults() for _ in tasks]
    for control in config.controls:
        model = loaded.models.get(control.name) if loaded else None
        if model is None or set(model.label_space.labels) != set(control.labels):
            # Before the first training, nothing: never a random head's guess. After the
            # config's labels changed, nothing either until a model of the new ones exists.
            continue
        indexes, texts = texts_of(tasks, control.field)
        if not texts:
            continue
        predictions: Sequence[Prediction | SpanPrediction] = model.predict(texts, batch_size)
        for index, prediction in zip(indexes, predictions, strict=True):
            add_prediction(answers[index], control, prediction)
    return answers


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
