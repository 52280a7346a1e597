"""One push of a served version to a Label Studio project.

1. Read the project (label config, model version, sampling), every task (id, data, whether
   it is annotated) and the predictions the version already has: what is left to do.
2. Predict the rest in batches, unannotated tasks first, through the code `/predict` uses
   (backend.prediction_results), check each prediction against the label config, and store
   each batch in bulk from a thread while the next batch is predicted. Before each batch,
   stop if the version no longer serves (a newer push takes over) or the push lost its lock.
3. Read the version's predictions again: remove any second one of a task, count any task
   still without one.
4. Set the project's model version to the pushed one (and, once, its sampling to
   uncertainty sampling), then delete the predictions of the backend's other versions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from backend.label_config import LabelConfig, parse_label_config
from backend.prediction_results import LoadedVersion, Reading, task_results
from backend.settings import Settings
from backend.store import UNTRAINED, VERSION_PATTERN
from backend.training.push.checks import invalid_reason
from backend.training.push.margins import write_margins
from backend.training.push.plan import PushPlan, PushProgress, batches, plan_push
from backend.training.push.studio import UNCERTAINTY_SAMPLING, PushStudio

log = logging.getLogger(__name__)
Report = Callable[[str, dict], None]
PREDICTING_NICENESS = 10


class PushCanceled(Exception):
    """The push stopped early, for the reason given: not a failure."""


@dataclass
class PushOptions:
    batch_size: int
    reading: Reading  # how /predict reads tasks: the same here
    set_model_version: bool
    keep_old_predictions: bool
    uncertainty_sampling: bool  # set the project's sampling at this push
    margin_field: str  # the task data key each task's margin is written to ("": none)

    @classmethod
    def of(cls, settings: Settings, first_push: bool) -> PushOptions:
        return cls(
            settings.push_batch_size,
            Reading.of(settings),
            settings.push_set_model_version,
            settings.push_keep_old_predictions,
            settings.push_uncertainty_sampling and first_push,
            settings.push_margin_field,
        )


@dataclass
class PushRecord:
    """What a push did, and where its time went (seconds)."""

    tasks: int = 0
    predicted: int = 0
    already: int = 0
    stored: int = 0
    invalid: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("reading", "predicting", "storing"), 0.0)
    )

    def add_time(self, stage: str, started: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.monotonic() - started, 3)


def lower_priority() -> None:
    """Nice the thread that predicts (Linux nices threads one by one): on cores shared with
    the web process and Label Studio, /predict and the annotators come first. Within
    WORKER_TORCH_THREADS still: the thread computes, torch and ONNX Runtime with it."""
    with contextlib.suppress(OSError, AttributeError):  # elsewhere than Linux: as it is
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + PREDICTING_NICENESS))


def is_backend_version(name: str) -> bool:
    """A version name this backend gives (or `untrained`): other predictions are the user's."""
    return name == UNTRAINED or bool(VERSION_PATTERN.match(name))


class Push:
    def __init__(
        self,
        studio: PushStudio,
        project: int,
        version: str,
        options: PushOptions,
        report: Report,
        stop_reason: Callable[[], str | None],
    ) -> None:
        self.studio, self.project, self.version = studio, project, version
        self.options = options
        self.report = report
        self.stop_reason = stop_reason  # why to stop now, if anything
        self.record = PushRecord()
        self.margins: dict[int, float] = {}  # task id -> margin, of the tasks predicted

    def run(self, load: Callable[[], LoadedVersion]) -> dict:
        started = time.monotonic()
        project, config, plan = self.read()
        self.record.tasks, self.record.already = plan.total, plan.already
        loaded = load()
        self.predict_and_store(plan, config, loaded)
        missing = self.verify(plan)
        finished = time.monotonic()
        settled = self.settle(project)
        self.record.add_time("finishing", finished)
        if self.options.margin_field:
            written = time.monotonic()
            self.report("margins", {"version": self.version, "tasks": len(self.margins)})
            key = self.options.margin_field
            settled["margins_written"] = write_margins(self.studio, self.project, key, self.margins)
            self.record.add_time("margins", written)
        self.record.seconds["total"] = round(time.monotonic() - started, 3)
        return {
            "outcome": "pushed",
            "version": self.version,
            **vars(self.record),
            **settled,
            "missing": missing,
        }

    def read(self) -> tuple[dict, LabelConfig, PushPlan]:
        started = time.monotonic()
        project = self.studio.project(self.project)
        config = parse_label_config(project.get("label_config"))
        tasks = self.studio.tasks(self.project)
        plan = plan_push(tasks, self.studio.predictions_of(self.project, self.version))
        self.record.add_time("reading", started)
        log.info(
            "push %s of project %s: %d tasks, %d to predict (%d annotated), %d hold one already",
            self.version,
            self.project,
            plan.total,
            len(plan.todo),
            plan.annotated_todo,
            plan.already,
        )
        return project, config, plan

    def predict_and_store(self, plan: PushPlan, config: LabelConfig, loaded: LoadedVersion) -> None:
        progress = PushProgress(len(plan.todo), time.monotonic())
        pending: Future | None = None
        with (
            ThreadPoolExecutor(1, "lsbert-push-predict", lower_priority) as predictor,
            ThreadPoolExecutor(1, "lsbert-push-store") as storer,
        ):
            for batch in batches(plan.todo, self.options.batch_size):
                self.stop_if_due()
                predictions = predictor.submit(self.predictions, batch, config, loaded).result()
                if pending is not None:
                    pending.result()  # one batch stored while the next is predicted, no more
                pending = storer.submit(self.store, predictions, progress)
                progress.done += len(batch)
                self.report(
                    "predicting", {"version": self.version, **progress.summary(time.monotonic())}
                )
            if pending is not None:
                pending.result()
        self.record.predicted = progress.done

    def predictions(
        self, batch: list[dict], config: LabelConfig, loaded: LoadedVersion
    ) -> list[dict]:
        started = time.monotonic()
        results = task_results(batch, config, loaded, self.options.reading)
        self.record.add_time("predicting", started)
        checked = []
        for task, answer in zip(batch, results, strict=True):
            prediction = {"task": int(task["id"]), **answer.item(self.version)}
            reason = invalid_reason(prediction, config, task)
            if reason:
                self.record.invalid += 1
                log.warning("push %s: task %s left out: %s", self.version, task["id"], reason)
            else:
                checked.append(prediction)
                if answer.margin is not None:
                    self.margins[prediction["task"]] = answer.margin
        return checked

    def store(self, predictions: list[dict], progress: PushProgress) -> None:
        started = time.monotonic()
        remaining = predictions

        def drop_stored() -> None:
            # a failed request may have been stored all the same: never send it twice
            nonlocal remaining
            held = self.studio.predictions_of(self.project, self.version)
            remaining = [p for p in remaining if not held.get(p["task"])]

        created = self.studio.retrying(
            f"storing {len(predictions)} predictions in project {self.project}",
            lambda: self.studio.store(self.project, remaining) if remaining else 0,
            before_retry=drop_stored,
        )
        if created < len(remaining):
            log.warning(
                "push %s: Label Studio stored %d of %d", self.version, created, len(remaining)
            )
        stored = created + len(predictions) - len(remaining)
        progress.stored += stored
        self.record.stored += stored
        self.record.add_time("storing", started)

    def delete_old_versions(self) -> dict[str, int]:
        """The backend's other versions' predictions, deleted: each version's count."""
        held = self.studio.model_versions(self.project)
        doomed = {
            n: count for n, count in held.items() if n != self.version and is_backend_version(n)
        }
        for name, count in doomed.items():
            self.report(
                "deleting", {"version": self.version, "deleting": name, "predictions": count}
            )
            self.studio.delete_version(self.project, name, count)
        left = self.studio.model_versions(self.project) if doomed else {}
        for name in set(doomed) & set(left):
            log.warning("push %s: %d predictions of %s remain", self.version, left[name], name)
        return {name: count - left.get(name, 0) for name, count in doomed.items()}

    def stop_if_due(self) -> None:
        reason = self.stop_reason()
        if reason:
            raise PushCanceled(reason)

    def verify(self, plan: PushPlan) -> int:
        """Remove any second prediction of a task (found before or after storing); how
        many of the tasks predicted still have none."""
        held = self.studio.predictions_of(self.project, self.version)
        again = plan_push(plan.todo, held)
        extra = sorted({*plan.extra, *again.extra})
        for prediction in extra:
            self.studio.delete_prediction(prediction)
        if extra:
            log.warning("push %s: removed %d second predictions", self.version, len(extra))
        return len(again.todo)

    def settle(self, project: dict) -> dict:
        """The project's model version and sampling, then the other versions' predictions."""
        fields: dict = {}
        holds_some = self.record.stored + self.record.already > 0  # Label Studio refuses else
        wanted = self.options.set_model_version and holds_some
        if wanted and project.get("model_version") != self.version:
            fields["model_version"] = self.version
        if self.options.uncertainty_sampling and project.get("sampling") != UNCERTAINTY_SAMPLING:
            fields["sampling"] = UNCERTAINTY_SAMPLING
        updated = self.studio.update_project(self.project, fields) if fields else project
        model_version = updated.get("model_version")
        deleted: dict[str, int] = {}
        # Label Studio resets a project's model version when a version is deleted while it
        # names the backend's title (live mode): delete only once it names this version
        if model_version == self.version and not self.options.keep_old_predictions:
            deleted = self.delete_old_versions()
        return {
            "model_version": model_version,
            "sampling": updated.get("sampling"),
            "deleted_versions": deleted,
        }
