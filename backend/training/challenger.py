"""One control's challenger: trained on its training part, saved, exported for serving,
scored with the champion on the tasks the policy chose, and judged by the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.label_config import CHOICES, Control
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.answers import Answer, answers, scores_of
from backend.training.cross_validation import cross_validate
from backend.training.evidence import compared
from backend.training.examples import Examples
from backend.training.fit import train_control
from backend.training.holdout import split_examples
from backend.training.policy import ComparisonPlan, decide, plan_comparison
from backend.training.pseudo_labels import PseudoLabels, pseudo_labels, unlabelled_texts
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
    """The version serving when the run started: what the challenger is compared with."""

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
    suspects: tuple[int, ...] = ()  # task ids whose label quality control doubts
    unlabelled: list[dict] = field(default_factory=list)  # tasks nobody annotated yet


def champion_model(run: ControlRun):  # type: ignore[no-untyped-def]
    from model.loading import load_model
    from model.runtime import select_device

    folder = run.champion.model_folder(run.control)
    assert folder is not None  # asked for only where the champion has this control
    return load_model(run.control.kind, folder, str(select_device(run.settings.device)))


def from_the_champion(
    run: ControlRun, plan: ComparisonPlan | str, held_out: Examples | None, train: Examples
) -> tuple[dict[int, Answer], PseudoLabels | None]:
    """What the champion says of every task the comparison needs (by task id), and its
    pseudo-labels for training; read before the challenger trains, so the two models are
    never in memory together. Only a champion of the same label set is asked."""
    if not isinstance(plan, ComparisonPlan):
        return {}, None
    settings, control = run.settings, run.control
    rows = [(held_out, i) for i in {*plan.held_out, *plan.own_held_out}] if held_out else []
    rows += [(train, i) for i in plan.new]
    pool = unlabelled_texts(
        run.unlabelled, control, settings.unlabelled_pool_max, settings.train_seed
    )
    pool = pool if settings.semi_supervised else []
    if not rows and not pool:
        return {}, None
    model = champion_model(run)
    said = answers(model, control, [part.texts[i] for part, i in rows])
    found = {part.task_ids[i]: answer for (part, i), answer in zip(rows, said, strict=True)}
    pseudo = (
        pseudo_labels(model, control, pool, train, settings, str(run.champion.version))
        if pool
        else None
    )
    return found, pseudo


def train_challenger(
    base_model: str, run: ControlRun, folder: Path, progress: Progress | None
) -> ControlRecord:
    """Train, save and judge one control's model; the record says all of it."""
    control, settings = run.control, run.settings
    previous = run.champion.entry(control)
    train, held_out = split_examples(
        run.examples,
        run.project,
        settings.holdout_share,
        settings.holdout_min_annotations,
        kept=previous.held_out.task_ids if previous else (),
        per_label=settings.holdout_min_per_label,
    )
    plan = plan_comparison(
        run.champion.version,
        previous,
        control,
        run.plan,
        held_out.keys() if held_out is not None else {},
        train.keys(),
        run.suspects,
        settings.gate_min_tasks if settings.cross_validation_folds >= 2 else 0,
        settings.gate_corrections_share,
        settings.cross_validation_folds,
    )
    champion, pseudo = from_the_champion(run, plan, held_out, train)
    report_progress = (
        (lambda p: progress("training", {"control": control.name, **vars(p)})) if progress else None
    )
    start_from = run.champion.model_folder(control) if run.plan.mode == WARM else None
    model, report = train_control(
        base_model, control, train, settings, report_progress, start_from, pseudo
    )
    calibration = calibrated(model, control, held_out, previous)
    model.save(folder)
    record = control_record(control, folder.name, train, report, run.plan)
    record.calibration = calibration
    record.unlabelled = pseudo.record if pseudo is not None else None
    keys = {**train.keys(), **(held_out.keys() if held_out is not None else {})}
    record.targets = {str(task): key for task, key in keys.items()}
    if settings.exports_int8:
        from model.int8_export import export_int8

        texts = [*(held_out.texts if held_out is not None else []), *train.texts]
        record.inference = Inference.from_dict(export_int8(model, folder, texts))
    mine = answers(model, control, held_out.texts) if held_out is not None else []
    record.held_out = held_out_record(control, mine, held_out, settings)
    out_of_fold = None
    if held_out is None or (isinstance(plan, ComparisonPlan) and plan.new):
        out_of_fold = cross_validate(base_model, control, train, settings, start_from)
        if held_out is None:
            record.held_out.cross_validation = out_of_fold.record
    if isinstance(plan, str):
        record.decision = decide(None, settings.gate_tolerance, settings.gate_confidence, plan)
        return record
    comparison = compared(plan, control, held_out, train, mine, champion, out_of_fold, settings)
    record.decision = decide(comparison, settings.gate_tolerance, settings.gate_confidence, None)
    return record


def calibrated(  # type: ignore[no-untyped-def]
    model, control: Control, held_out: Examples | None, previous: ControlRecord | None
) -> dict | None:
    """Fit the classifier's temperature on its held-out answers and set it on the model,
    which is saved with it. Too few of them fit noise: the champion's temperature carries
    over (a warm start keeps its steepness), or none. Spans are not calibrated."""
    if control.kind != CHOICES:
        return None
    from model.calibration import MIN_EXAMPLES, calibrate
    from model.training import targets_tensor

    if held_out is not None and len(held_out) >= MIN_EXAMPLES:
        targets = targets_tensor(held_out.targets, model.label_space)
        found = asdict(calibrate(model.raw_logits(held_out.texts), targets, control.multi_label))
    else:
        inherited = (previous.calibration or {}).get("temperature") if previous else None
        reason = f"fewer than {MIN_EXAMPLES} held-out answers"
        if inherited:
            reason += ": the current version's temperature carries over"
        found = {"temperature": float(inherited or 1.0), "examples": len(held_out or ())}
        found["reason"] = reason
    model.temperature = found["temperature"]
    return {k: v for k, v in found.items() if v not in (None, "")}


def held_out_record(
    control: Control, given: list[Answer], held_out: Examples | None, settings: Settings
) -> HeldOut:
    if held_out is None:
        return HeldOut(
            skipped=f"held out only from {settings.holdout_min_annotations} annotated tasks on"
        )
    return HeldOut(held_out.task_ids, scores_of(control, given, held_out))


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
