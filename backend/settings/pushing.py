"""Predictions pushed to Label Studio after each change of the served version, and what
they set in the project: its model version, its sampling (active learning)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.errors import ConfigError
from backend.settings.fields import Declaration, Group

PUSHING = Group("Pushed predictions and active learning")
DATA_KEY = re.compile(r"^lsbert_[a-z0-9_]{1,40}$")


def data_key(raw: str, declaration: Declaration) -> str:
    if not DATA_KEY.match(raw):
        raise ConfigError(
            f"{declaration.name}={raw!r} is not a task data key of this backend's own: "
            "write one that starts with lsbert_ and holds only a-z, 0-9 and _, e.g. "
            f"{declaration.name}=lsbert_margin"
        )
    return raw


@dataclass(frozen=True, repr=False)
class PushSettings:
    push_predictions: bool = PUSHING.setting(
        "PUSH_PREDICTIONS",
        True,
        "in API mode, store the served version's prediction of every task in Label Studio "
        "after each change of the served version (published, rolled back, activated) and "
        "when tasks are imported; `false`: Label Studio asks `/predict` as tasks are opened",
        essential=True,
    )
    push_set_model_version: bool = PUSHING.setting(
        "PUSH_SET_MODEL_VERSION",
        True,
        "after a push, set the project's model version to the pushed version, so that the "
        "*Prediction score* column and uncertainty sampling use it (pushed mode); `false` "
        "leaves it as it is, e.g. on the backend's title (live mode), and keeps every "
        "version's predictions",
    )
    push_keep_old_predictions: bool = PUSHING.setting(
        "PUSH_KEEP_OLD_PREDICTIONS",
        False,
        "keep the predictions of versions no longer served; by default each push deletes "
        "them once the project's model version names the new one",
    )
    push_uncertainty_sampling: bool = PUSHING.setting(
        "PUSH_UNCERTAINTY_SAMPLING",
        False,
        "at a project's first push, set its sampling to *Uncertainty sampling*, so that the "
        "labelling stream serves the least certain task first (Label Studio's settings page "
        "shows the option disabled; the API sets it). Once per project: change it back in "
        "Label Studio and it stays",
        essential=True,
    )
    push_margin_field: str = PUSHING.setting(
        "PUSH_MARGIN_FIELD",
        "",
        "a task data key (`lsbert_...`) where each push also writes every task's margin, "
        "the finer uncertainty figure, rounded to 0.01: a *Data Manager* column to sort on "
        "(the one place Label Studio sorts on a second number). It changes the tasks' data: "
        "unset, nothing is written",
        data_key,
    )
    push_batch_size: int = PUSHING.setting(
        "PUSH_BATCH_SIZE",
        500,
        "tasks predicted, then stored in one request, at a time",
        minimum=1,
        maximum=5000,
        too_large="is too large: Label Studio holds a whole request in memory; use 5000 or less",
    )
    push_retry_for: float = PUSHING.setting(
        "PUSH_RETRY_FOR",
        120.0,
        "seconds a push keeps retrying Label Studio when it cannot be reached or fails "
        "(waits of 1 s doubling to 30 s) before the job fails with the reason",
        minimum=0.0,
    )
    push_job_timeout: int = PUSHING.setting(
        "PUSH_JOB_TIMEOUT", 3600, "seconds before a push job is stopped", minimum=60
    )
