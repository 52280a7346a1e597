"""Checking a prediction against the project's label config before storing it.

Label Studio 1.23.2's bulk import does not refuse an invalid prediction (its validation
flag is off): it logs it and stores the rest, so an invalid one would be lost in silence.
Each one is checked here first; what fails is left out, counted and logged with why.
"""

from __future__ import annotations

import math

from backend.label_config import CHOICES, Control, LabelConfig


def invalid_reason(prediction: dict, config: LabelConfig, task: dict) -> str | None:
    """Why `prediction` (`{task, result, score, model_version}`) cannot be stored for
    `task`, or None when it can."""
    if not isinstance(prediction.get("task"), int) or prediction["task"] != task.get("id"):
        return "its task id is not the task's"
    if not isinstance(prediction.get("model_version"), str) or not prediction["model_version"]:
        return "it has no model version"
    score = prediction.get("score")
    if score is not None and not (isinstance(score, float | int) and 0 <= score <= 1):
        return f"its score {score!r} is not a number from 0 to 1"
    result = prediction.get("result")
    if not isinstance(result, list):
        return "its result is not a list"
    for region in result:
        reason = region_problem(region, config, task)
        if reason:
            return reason
    return None


def region_problem(region: object, config: LabelConfig, task: dict) -> str | None:
    if not isinstance(region, dict):
        return "a result item is not an object"
    control = config.control(str(region.get("from_name")))
    if control is None:
        return f"from_name {region.get('from_name')!r} is no control of the label config"
    if region.get("to_name") != control.to_name or region.get("type") != control.kind:
        return f"{control.name}: to_name or type is not the control's"
    value = region.get("value")
    if not isinstance(value, dict):
        return f"{control.name}: its value is not an object"
    score = region.get("score")
    if score is not None and not (isinstance(score, float | int) and math.isfinite(score)):
        return f"{control.name}: its score {score!r} is not a number"
    if control.kind == CHOICES:
        return choices_problem(control, value)
    return span_problem(control, value, task)


def choices_problem(control: Control, value: dict) -> str | None:
    choices = value.get("choices")
    if not isinstance(choices, list) or not choices:
        return f"{control.name}: no choices"
    unknown = [c for c in choices if c not in control.labels]
    if unknown:
        return f"{control.name}: {unknown} are not among its choices"
    if not control.multi_label and len(choices) != 1:
        return f"{control.name}: a single-choice control got {len(choices)} choices"
    return None


def span_problem(control: Control, value: dict, task: dict) -> str | None:
    text = (task.get("data") or {}).get(control.field)
    start, end = value.get("start"), value.get("end")
    if not isinstance(text, str) or not isinstance(start, int) or not isinstance(end, int):
        return f"{control.name}: a span needs integer start and end in a text"
    if not 0 <= start < end <= len(text) or value.get("text") != text[start:end]:
        return f"{control.name}: span {start}-{end} does not fit the task's text"
    labels = value.get("labels")
    if not isinstance(labels, list) or len(labels) != 1 or labels[0] not in control.labels:
        return f"{control.name}: a span needs one of the control's labels, not {labels!r}"
    return None
