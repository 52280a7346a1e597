"""One training run of a project: gather annotations, train a model per control, publish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from redis import Redis

from backend.errors import LabelStudioError, TrainingSkipped
from backend.label_config import Control, parse_label_config
from backend.labelstudio import LabelStudioClient
from backend.redis_store import ProjectConfigs, WebhookAnnotations
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.champion import Champion, ControlRun, comparison_set, lost_warm_start, scores
from backend.training.cross_validation import cross_validate
from backend.training.examples import Examples, collect_examples
from backend.training.fit import train_control
from backend.training.holdout import split_examples
from backend.training.policy import (
    WARM,
    Decision,
    decide,
    plan_start,
    version_decision,
)
from backend.training.triggers import AnnotationChanges
from backend.web.model_cache import load_model

log = logging.getLogger(__name__)
Progress = Callable[[str, dict], None]


@dataclass
class ProjectData:
    label_config: str
    tasks: list[dict]
    source: str


def load_project_data(settings: Settings, redis: Redis, project: int) -> ProjectData:
    if settings.api_configured:
        client = LabelStudioClient(
            settings.label_studio_url, settings.label_studio_api_key, settings.label_studio_timeout
        )
        return ProjectData(
            client.label_config(project), client.annotated_tasks(project), "label-studio-api"
        )
    label_config = ProjectConfigs(redis).get(project)
    if not label_config:
        raise LabelStudioError(
            f"no label config known for project {project}: connect the backend in the "
            "project's Model settings (it sends its config), or set LABEL_STUDIO_URL and "
            "LABEL_STUDIO_API_KEY"
        )
    return ProjectData(label_config, WebhookAnnotations(redis).tasks(project), "webhooks")


def run_training(
    settings: Settings, redis: Redis, project: int, progress: Progress | None = None
) -> dict:
    """Train every predictable control of the project as one challenger version; it serves
    only if every control passes the comparison with the champion."""
    from model.base_model import base_model_record, resolve_base_model

    started = time.monotonic()
    changes = AnnotationChanges(redis)
    full_requested = changes.take_full_request(project)
    changes.take(project)  # events from now on count towards the next run
    data = load_project_data(settings, redis, project)
    config = parse_label_config(data.label_config)
    base_model = resolve_base_model(settings.base_model)
    store = ModelStore(settings.model_dir)
    champion = Champion.of(store, project)
    full_reason = (
        "a full retrain was requested" if full_requested else lost_warm_start(store, project)
    )
    controls, skipped = [], []
    with store.staging(project) as staged:
        for index, control in enumerate(config.controls):
            previous = champion.entry(control)
            plan = plan_start(champion.version, previous, control, settings.warm_start, full_reason)
            run = ControlRun(control, collect_examples(data.tasks, control), plan, previous)
            try:
                controls.append(
                    train_and_save(
                        base_model,
                        run,
                        project,
                        staged / f"control-{index}",
                        settings,
                        champion,
                        progress,
                    )
                )
            except TrainingSkipped as reason:
                skipped.append(str(reason))
        if not controls:
            raise TrainingSkipped("; ".join(skipped) or "the label config has no control to train")
        decision = version_decision({c["control"]: Decision(**c["decision"]) for c in controls})
        record = {
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base_model": base_model_record(settings.base_model, base_model),
            "seed": settings.train_seed,
            "training_source": data.source,
            "annotated_tasks": len(data.tasks),
            "champion": champion.version,
            "decision": decision.to_dict(),
            "controls": controls,
            "skipped_controls": skipped,
            "seconds": round(time.monotonic() - started, 2),
        }
        version = store.publish(project, staged, record, make_current=decision.accepted)
    deleted = store.prune(project, settings.keep_versions)
    outcome = "published" if decision.accepted else "rejected"
    log.info(
        "project %s: %s %s in %.1f s (%s)",
        project,
        outcome,
        version,
        record["seconds"],
        decision.reason,
    )
    return {
        "outcome": outcome,
        "version": version,
        "serving": version if decision.accepted else champion.version,
        "reason": decision.reason,
        "deleted_versions": deleted,
        **summary(record),
    }


def train_and_save(
    base_model: str,
    run: ControlRun,
    project: int,
    folder: Path,
    settings: Settings,
    champion: Champion,
    progress: Progress | None,
) -> dict:
    """Train one control on its training part, score it and the champion on its held-out
    part, save it, and decide."""
    control = run.control
    train, held_out = split_examples(
        run.examples, project, settings.holdout_share, settings.holdout_min_annotations
    )
    compared, no_comparison = comparison_set(champion, run, held_out, settings)
    champion_scores = None
    if compared is not None and champion.folder is not None and run.previous is not None:
        from model.runtime import select_device

        where = str(select_device(settings.device))
        champion_model = load_model(control.kind, champion.folder / run.previous["folder"], where)
        champion_scores = scores(champion_model, compared)
        del champion_model
    report_progress = (
        (lambda p: progress("training", {"control": control.name, **vars(p)})) if progress else None
    )
    start_from = (
        champion.folder / run.previous["folder"]
        if run.plan.mode == WARM and champion.folder is not None and run.previous is not None
        else None
    )
    model, report = train_control(base_model, control, train, settings, report_progress, start_from)
    model.save(folder)
    record = control_record(control, folder.name, train, report)
    if control.kind == "choices" and settings.exports_int8:
        from model.int8 import export_int8

        record["inference"] = export_int8(model, folder, [*held_out_texts(held_out), *train.texts])
    record["start"] = run.plan.to_dict()
    record["held_out"] = held_out_record(model, held_out, settings)
    if held_out is None:
        record["held_out"]["cross_validation"] = cross_validate(
            base_model, control, train, settings
        )
    challenger_scores = (
        record["held_out"]
        if compared is held_out
        else scores(model, compared)
        if compared
        else None
    )
    count = len(compared) if compared is not None else 0
    decision = decide(
        challenger_scores, champion_scores, count, settings.gate_tolerance, no_comparison
    )
    record["decision"] = decision.to_dict()
    return record


def held_out_texts(held_out: Examples | None) -> list[str]:
    return held_out.texts if held_out is not None else []


def held_out_record(model, held_out: Examples | None, settings: Settings) -> dict:  # type: ignore[no-untyped-def]
    if held_out is None:
        return {
            "task_ids": [],
            "skipped": f"held out only from {settings.holdout_min_annotations} annotated tasks on",
        }
    return {"task_ids": held_out.task_ids, **scores(model, held_out)}


def control_record(control: Control, folder: str, examples: Examples, report) -> dict:  # type: ignore[no-untyped-def]
    conversion = getattr(report, "conversion", None)
    return {
        "control": control.name,
        "kind": control.kind,
        "folder": folder,
        "labels": list(control.labels),
        "multi_label": control.multi_label,
        "examples": len(examples),
        "label_counts": report.label_counts,
        "left_out": dict(examples.skipped),
        "task_ids": examples.task_ids,
        "steps": report.steps,
        "epochs": report.epochs,
        "final_loss": report.final_loss,
        "seconds": round(report.seconds, 2),
        "hyperparameters": report.config,
        **({"span_conversion": asdict(conversion)} if conversion is not None else {}),
    }


def summary(record: dict) -> dict:
    return {
        "seconds": record["seconds"],
        "training_source": record["training_source"],
        "controls": {c["control"]: control_summary(c) for c in record["controls"]},
        "skipped_controls": record["skipped_controls"],
    }


def control_summary(control: dict) -> dict:
    held_out = control["held_out"]
    return {
        "annotated": control["examples"] + len(held_out["task_ids"]),
        "examples": control["examples"],
        "held_out": len(held_out["task_ids"]),
        held_out.get("metric", "held_out_metric"): held_out.get("value"),
        "left_out": control["left_out"],
    }
