"""Label Studio /predict: one item per task, in order, with scored choices."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean
from typing import TYPE_CHECKING

from backend.label_config import ChoicesControl, LabelConfig
from backend.predictor import LoadedVersion
from backend.store import UNTRAINED

if TYPE_CHECKING:
    from model.classifier import TextClassifier


def predict_tasks(
    tasks: Sequence[object], config: LabelConfig, loaded: LoadedVersion | None, batch_size: int
) -> list[dict]:
    version = loaded.version if loaded else UNTRAINED
    results: list[list[dict]] = [[] for _ in tasks]
    for control in config.controls:
        model = loaded.models.get(control.name) if loaded else None
        if model is None or not serves(model, control):
            continue  # before the first training: nothing, never a random head's guess
        for index, item in predict_control(tasks, control, model, batch_size):
            results[index].append(item)
    return [task_item(result, version) for result in results]


def serves(model: TextClassifier, control: ChoicesControl) -> bool:
    """A model trained before the config changed may know labels the config no longer has."""
    return set(model.label_space.labels) == set(control.labels)


def predict_control(
    tasks: Sequence[object], control: ChoicesControl, model: TextClassifier, batch_size: int
) -> list[tuple[int, dict]]:
    indexes, texts = [], []
    for index, task in enumerate(tasks):
        text = task_text(task, control.field)
        if text is not None:
            indexes.append(index)
            texts.append(text)
    if not texts:
        return []
    predictions = model.predict(texts, batch_size=batch_size)
    return [
        (index, choices_result(control, p.labels, p.score))
        for index, p in zip(indexes, predictions, strict=True)
        if p.labels
    ]


def task_text(task: object, field: str) -> str | None:
    data = task.get("data") if isinstance(task, dict) else None
    text = data.get(field) if isinstance(data, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def choices_result(control: ChoicesControl, labels: Sequence[str], score: float) -> dict:
    return {
        "from_name": control.name,
        "to_name": control.to_name,
        "type": "choices",
        "value": {"choices": list(labels)},
        "score": round(score, 4),
    }


def task_item(result: list[dict], version: str) -> dict:
    item: dict = {"result": result, "model_version": version}
    if result:
        # The prediction score Label Studio sorts by: the mean confidence of its results.
        item["score"] = round(fmean(r["score"] for r in result), 4)
    return item
