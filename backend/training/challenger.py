"""One control's challenger: trained on its training part, saved, exported for serving,
scored with the champion on the held-out part, and judged by the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.label_config import CHOICES, Control
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.cross_validation import cross_validate
from backend.training.examples import Examples
from backend.training.fit import train_control
from backend.training.holdout import split_examples, subset
from backend.training.policy import comparison_set, decide
from backend.version_record import (
    WARM,
    ControlRecord,
    HeldOut,
    Inference,
    StartPlan,
    VersionRecord,
)

Progress = Callable[[str, dict], None]


@dataclass
class Champion:
    """The version serving when the run started: what the challenger must not fall below."""

    version: str | None
    record: VersionRecord | None
    folder: Path | None

    @classmethod
    def of(cls, store: ModelStore, project: int) -> Champion:
        version = store.current_version(project)
        if version is None:
            return cls(None, None, None)
        return cls(
            version, store.read_version(project, version), store.version_dir(project, version)
        )

    def entry(self, control: Control) -> ControlRecord | None:
        return self.record.control(control.name) if self.record else None

    def model_folder(self, control: Control) -> Path | None:
        entry = self.entry(control)
        return self.folder / entry.folder if self.folder and entry else None


@dataclass
class ControlRun:
    """What one control's training is given: its examples, where it starts, the champion."""

    control: Control
    examples: Examples
    plan: StartPlan
    champion: Champion
    project: int
    settings: Settings


def scores(model, examples: Examples) -> dict:  # type: ignore[no-untyped-def]
    from model.evaluation import evaluation_record

    return evaluation_record(model.evaluate(examples.texts, examples.targets))


def champion_scores(run: ControlRun, compared: Examples) -> dict:
    from model.loading import load_model
    from model.runtime import select_device

    folder = run.champion.model_folder(run.control)
    assert folder is not None  # comparison_set only compares where the champion has a model
    where = str(select_device(run.settings.device))
    return scores(load_model(run.control.kind, folder, where), compared)


def train_challenger(
    base_model: str, run: ControlRun, folder: Path, progress: Progress | None
) -> ControlRecord:
    """Train, save and judge one control's model; the record says all of it."""
    control, settings = run.control, run.settings
    train, held_out = split_examples(
        run.examples, run.project, settings.holdout_share, settings.holdout_min_annotations
    )
    previous = run.champion.entry(control)
    positions, no_comparison = comparison_set(
        run.champion.version,
        previous,
        control,
        held_out.task_ids if held_out is not None else None,
        settings.holdout_min_annotations,
    )
    compared = subset(held_out, positions) if held_out is not None and positions else None
    old = champion_scores(run, compared) if compared is not None else None
    report_progress = (
        (lambda p: progress("training", {"control": control.name, **vars(p)})) if progress else None
    )
    start_from = run.champion.model_folder(control) if run.plan.mode == WARM else None
    model, report = train_control(base_model, control, train, settings, report_progress, start_from)
    model.save(folder)
    record = control_record(control, folder.name, train, report, run.plan)
    if control.kind == CHOICES and settings.exports_int8:
        from model.int8_export import export_int8

        texts = [*(held_out.texts if held_out is not None else []), *train.texts]
        record.inference = Inference.from_dict(export_int8(model, folder, texts))
    record.held_out = held_out_record(model, held_out, settings)
    if held_out is None:
        record.held_out.cross_validation = cross_validate(base_model, control, train, settings)
    new = None
    if compared is not None:
        new = (
            record.held_out.scores
            if len(compared) == len(held_out or ())
            else scores(model, compared)
        )
    count = len(compared) if compared is not None else 0
    record.decision = decide(new, old, count, settings.gate_tolerance, no_comparison)
    return record


def held_out_record(model, held_out: Examples | None, settings: Settings) -> HeldOut:  # type: ignore[no-untyped-def]
    if held_out is None:
        return HeldOut(
            skipped=f"held out only from {settings.holdout_min_annotations} annotated tasks on"
        )
    return HeldOut(held_out.task_ids, scores(model, held_out))


def control_record(
    control: Control, folder: str, examples: Examples, report, plan: StartPlan
) -> ControlRecord:  # type: ignore[no-untyped-def]
    conversion = getattr(report, "conversion", None)
    return ControlRecord(
        control=control.name,
        kind=control.kind,
        folder=folder,
        labels=list(control.labels),
        multi_label=control.multi_label,
        examples=len(examples),
        label_counts=report.label_counts,
        left_out=dict(examples.skipped),
        task_ids=examples.task_ids,
        steps=report.steps,
        epochs=report.epochs,
        final_loss=report.final_loss,
        seconds=round(report.seconds, 2),
        hyperparameters=report.config,
        span_conversion=asdict(conversion) if conversion is not None else None,
        start=plan,
    )
