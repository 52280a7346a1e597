"""The order Label Studio itself serves, replayed: `lsbert simulate --order label-studio`.

For each seed, a Label Studio project holds the pool as tasks. The first round's tasks are
annotated through the API in the replay's seeded random order; after every round, the
served version is pushed to the project exactly as the worker pushes it (every task's
prediction, the project's model version, uncertainty sampling), and the next round's tasks
are the ones `GET /api/projects/{id}/next` serves, each annotated with its true label
before the next is asked for, as an annotator pressing *Label All Tasks* would. So the
curve measures Label Studio's own ordering (lowest score first, its ties and locks
included) on the scores this backend pushes, not a reimplementation of it.

The projects stay in Label Studio afterwards, to be looked at.
"""

from __future__ import annotations

import logging
import time

from backend.errors import LabelStudioError
from backend.labelstudio import LabelStudioClient
from backend.prediction_results import LoadedVersion, Reading
from backend.settings import Settings
from backend.training.push.push import Push, PushOptions
from backend.training.push.studio import PushStudio

log = logging.getLogger(__name__)
LABEL_STUDIO = "label-studio"  # the ordering's name


class StudioOrder:
    """One replay's project in Label Studio, and the tasks it serves next."""

    def __init__(self, settings: Settings, label_config: str, pool: list[dict], title: str) -> None:
        self.client = LabelStudioClient(
            settings.label_studio_url, settings.label_studio_api_key, settings.label_studio_timeout
        )
        self.studio = PushStudio(self.client, settings.push_retry_for)
        self.options = PushOptions(
            settings.push_batch_size, Reading.of(settings), True, False, True, ""
        )
        body = {"title": title, "label_config": label_config}
        self.project = int(self.studio.send("POST", "/api/projects", body)["id"])  # type: ignore[index]
        data = [{"data": task["data"]} for task in pool]
        self.studio.send("POST", f"/api/projects/{self.project}/import", data)
        listed = sorted(self.studio.tasks(self.project), key=lambda t: int(t["id"]))
        if len(listed) != len(pool):
            raise LabelStudioError(f"Label Studio holds {len(listed)} of {len(pool)} pool tasks")
        # tasks get their ids in the order they were imported
        self.pool_task = {int(t["id"]): task for t, task in zip(listed, pool, strict=True)}
        self.studio_id = {id(task): task_id for task_id, task in self.pool_task.items()}
        self.seconds = {"pushing": 0.0, "next": 0.0, "annotating": 0.0}
        log.info("Label Studio project %s holds the pool of %d tasks", self.project, len(pool))

    def annotate(self, tasks: list[dict]) -> None:
        """Each task's true label, as its annotation in Label Studio."""
        started = time.monotonic()
        for task in tasks:
            result = (task.get("annotations") or [{}])[0].get("result") or []
            path = f"/api/tasks/{self.studio_id[id(task)]}/annotations"
            self.studio.send("POST", path, {"result": result})
        self.seconds["annotating"] += time.monotonic() - started

    def push(self, version: str, models: dict) -> dict:
        started = time.monotonic()
        push = Push(self.studio, self.project, version, self.options, lambda *_: None, lambda: None)
        result = push.run(lambda: LoadedVersion(version, models))
        self.seconds["pushing"] += time.monotonic() - started
        return result

    def next_tasks(self, count: int) -> list[dict]:
        """The next `count` tasks Label Studio serves, each annotated before the next."""
        chosen: list[dict] = []
        for _ in range(count):
            started = time.monotonic()
            try:
                served = self.studio.send("GET", f"/api/projects/{self.project}/next", None)
            except LabelStudioError as error:
                if error.status == 404:  # nothing left to label
                    break
                raise
            self.seconds["next"] += time.monotonic() - started
            task = self.pool_task[int(served["id"])]  # type: ignore[index]
            self.annotate([task])
            chosen.append(task)
        return chosen
