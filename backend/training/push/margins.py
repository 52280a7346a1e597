"""Each task's margin in a task data key, the one place besides the prediction score where
Label Studio 1.23.2 sorts on a number (a Data Manager column of task data).

A prediction has one sortable number, its `score`; `PATCH /api/tasks/{id}` rewrites a
task's whole data, about 40 ms a task. The Data Manager's *Add Or Modify Data Field* action
(experimental, hidden from its menu, performed through the API all the same) writes one
value into many tasks in one bulk update, reading each task's data and adding the key: so
margins are rounded to 0.01 and written one request per distinct value, at most 101 a push
(18.5 s for 10,000 tasks, measured). Only the key named by PUSH_MARGIN_FIELD is touched.
Its values sort as numbers even where the column is sorted as text: 0.05 < 0.5 < 1.0.
"""

from __future__ import annotations

from collections import defaultdict

from backend.training.push.studio import PushStudio

ROUNDING = 2  # decimals: at most 101 distinct values, so at most 101 requests


def by_value(margins: dict[int, float]) -> dict[float, list[int]]:
    """Task ids by their margin rounded to 0.01, lowest first."""
    groups: dict[float, list[int]] = defaultdict(list)
    for task, margin in margins.items():
        groups[round(margin, ROUNDING)].append(task)
    return {value: sorted(groups[value]) for value in sorted(groups)}


def write_margins(studio: PushStudio, project: int, key: str, margins: dict[int, float]) -> int:
    """Writes each task's margin under `key`; the number of tasks written."""
    written = 0
    for value, tasks in by_value(margins).items():
        studio.set_data_field(project, tasks, key, value)
        written += len(tasks)
    return written
