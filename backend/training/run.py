"""One training run of a project: gather its annotations, train a challenger per control,
publish it as a version, serving only if the policy accepts it; then score the labels
(backend.quality) and prune old versions.

`train_version` is the run itself, on data already gathered and a model store: the worker
calls it through `run_training`, and `lsbert simulate` calls it on each replayed round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError

from backend.clock import utc_now
from backend.errors import TrainingSkipped
from backend.label_config import parse_label_config
from backend.quality.report import agreement_of, by_version, gate_suspects, publish_quality
from backend.redis_store import AnnotationChanges
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.challenger import Champion, ControlRun, Progress, train_challenger
from backend.training.examples import collect_examples
from backend.training.policy import WARM_LOSSES, full_retrain_reason, plan_start, version_decision
from backend.training.project_data import ProjectData, load_project_data
from backend.version_record import ControlRecord, VersionRecord

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    version: str  # the version this run made
    record: VersionRecord
    serving: str | None  # what serves after the run: the new version, or the champion

    @property
    def accepted(self) -> bool:
        return self.record.decision.accepted


def run_training(
    settings: Settings, redis: Redis, project: int, progress: Progress | None = None
) -> dict:
    """The worker's run: take the project's change count (events from now on count
    towards the next run), read its annotations, train, publish, score the labels
    (backend.quality), prune. A run that fails before it publishes gives the count and the
    full-retrain request back, so the next run still sees them."""
    changes = AnnotationChanges(redis)
    full_requested = changes.take_full_request(project)
    taken = changes.take(project)
    store = ModelStore(settings.model_dir)
    try:
        data = load_project_data(settings, redis, project)
        quality = QualityInput.of(store, project, data, settings)
        outcome = train_version(store, project, data, settings, full_requested, progress, quality)
    except TrainingSkipped:
        give_back(changes, project, 0, full_requested)  # no run happened to take it
        raise
    except BaseException:
        give_back(changes, project, taken, full_requested)
        raise
    measured = score_labels(store, project, data, outcome.version, settings, quality)
    deleted = store.prune(project, settings.keep_versions)
    decision = outcome.record.decision  # publishing may have kept it as a challenger
    result = "published" if outcome.accepted else "rejected"
    log.info(
        "project %s: %s %s in %.1f s (%s)",
        project,
        result,
        outcome.version,
        outcome.record.seconds,
        decision.reason,
    )
    return {
        "outcome": result,
        "version": outcome.version,
        "serving": outcome.serving,
        "reason": decision.reason,
        "deleted_versions": deleted,
        **summary(outcome.record),
        "quality": measured,
    }


def give_back(changes: AnnotationChanges, project: int, count: int, full: bool) -> None:
    """Return what a run took at its start; Redis may be the reason it failed, and then
    there is nothing to give back to."""
    try:
        if count:
            changes.add(project, count)
        if full:
            changes.request_full(project)
    except RedisError as error:
        log.warning("project %s: could not give the change count back: %s", project, error)


def score_labels(
    store: ModelStore,
    project: int,
    data: ProjectData,
    version: str,
    settings: Settings,
    quality: QualityInput,
) -> dict:
    """Label quality after the run; the version is out already, so a failure here is
    logged and said in the job's result, never the run's failure."""
    try:
        return publish_quality(store, project, data, version, settings, quality.agreement)
    except Exception as error:
        log.exception("project %s: label quality of %s failed", project, version)
        return {"error": f"{type(error).__name__}: {error}"}


@dataclass
class QualityInput:
    """What label quality control gives a run: the suspect tasks of the last queue (the
    gate leaves them out) and the agreement measured on the annotations the run reads
    (its version record keeps it)."""

    suspects: Mapping[str, Sequence[int]] = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)

    @classmethod
    def of(
        cls, store: ModelStore, project: int, data: ProjectData, settings: Settings
    ) -> QualityInput:
        try:
            return cls(
                gate_suspects(store.read_quality(project), data),
                agreement_of(data, settings.quality_min_count),
            )
        except Exception:  # label quality informs a run; it never stops one
            log.exception("project %s: label quality left out of this run", project)
            return cls()


def train_version(
    store: ModelStore,
    project: int,
    data: ProjectData,
    settings: Settings,
    full_requested: bool = False,
    progress: Progress | None = None,
    quality: QualityInput | None = None,
) -> RunOutcome:
    """Train every predictable control of the project as one challenger version; it
    serves only if every control passes the comparison with the champion."""
    from model.base_model import base_model_record, resolve_base_model

    started = time.monotonic()
    config = parse_label_config(data.label_config)
    base_model = resolve_base_model(settings.base_model)
    champion = Champion.of(store, project)
    full_reason = full_retrain_reason(full_requested, store.newest(project, WARM_LOSSES))
    quality = quality or QualityInput()
    controls: list[ControlRecord] = []
    skipped: list[str] = []
    with store.staging(project) as staged:
        for index, control in enumerate(config.controls):
            examples = collect_examples(data.tasks, control)
            plan = plan_start(
                champion.version,
                champion.entry(control),
                control,
                settings.warm_start,
                full_reason,
                len(examples),
            )
            run = ControlRun(
                control,
                examples,
                plan,
                champion,
                project,
                settings,
                tuple(quality.suspects.get(control.name, ())),
                data.unlabelled,
            )
            try:
                controls.append(
                    train_challenger(base_model, run, staged / f"control-{index}", progress)
                )
            except TrainingSkipped as reason:
                skipped.append(str(reason))
        if not controls:
            raise TrainingSkipped("; ".join(skipped) or "the label config has no control to train")
        decision = version_decision({c.control: c.decision for c in controls if c.decision})
        record = VersionRecord(
            created_at=utc_now(),
            base_model=base_model_record(settings.base_model, base_model),
            seed=settings.train_seed,
            training_source=data.source,
            annotated_tasks=len(data.tasks),
            champion=champion.version,
            decision=decision,
            controls=controls,
            skipped_controls=skipped,
            seconds=round(time.monotonic() - started, 2),
            agreement=by_version(quality.agreement) if quality.agreement else {},
        )
        # compare-and-swap: a rollback (or another run) made while this one trained stands
        version = store.publish(
            project, staged, record, make_current=decision.accepted, compare_and_swap=True
        )
    return RunOutcome(version, record, store.current_version(project))


def summary(record: VersionRecord) -> dict:
    """What a job's result tells of its version: time, source, and each control's counts."""
    return {
        "seconds": record.seconds,
        "training_source": record.training_source,
        "controls": {c.control: control_summary(c) for c in record.controls},
        "skipped_controls": record.skipped_controls,
    }


def control_summary(control: ControlRecord) -> dict:
    held_out = control.held_out
    return {
        "annotated": control.annotated,
        "examples": control.examples,
        "held_out": len(held_out.task_ids),
        held_out.metric or "held_out_metric": held_out.value,
        "left_out": control.left_out,
    }
