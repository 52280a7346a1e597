"""One training run of a project: gather annotations, train a model per control, publish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from redis import Redis

from backend.annotations import Examples, collect_examples
from backend.errors import LabelStudioError, TrainingSkipped
from backend.holdout import split_examples
from backend.label_config import CHOICES, Control, parse_label_config
from backend.labelstudio import LabelStudioClient
from backend.redis_store import ProjectConfigs, WebhookAnnotations
from backend.settings import Settings
from backend.store import ModelStore

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


def training_config(settings: Settings):  # type: ignore[no-untyped-def]
    from model.training import TrainingConfig

    return TrainingConfig(
        epochs=settings.train_epochs,
        learning_rate=settings.train_learning_rate,
        batch_size=settings.train_batch_size,
        finetune_epochs=settings.train_finetune_epochs,
        finetune_learning_rate=settings.train_finetune_learning_rate,
        max_length=settings.train_max_length,
        max_steps=settings.train_max_steps,
        seed=settings.train_seed,
    )


def describe_skips(examples: Examples) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in examples.skipped.most_common()) or "none"


def span_training_config(settings: Settings):  # type: ignore[no-untyped-def]
    from model.span_training import SpanTrainingConfig

    return SpanTrainingConfig(
        epochs=settings.train_span_epochs,
        max_steps=settings.train_max_steps,
        seed=settings.train_seed,
    )


def train_control(
    base_model: str, control: Control, examples: Examples, settings: Settings, on_progress
):  # type: ignore[no-untyped-def]
    """A classifier for `<Choices>`, a span tagger for `<Labels>`."""
    from model.errors import TrainingDataError
    from model.labels import LabelSpace

    space = LabelSpace(control.labels, control.multi_label)
    texts, targets = examples.texts, examples.targets
    try:
        if control.kind == CHOICES:
            from model.training import train_classifier

            config = training_config(settings)
            return train_classifier(
                base_model, texts, targets, space, config, on_progress, device=settings.device
            )
        from model.span_training import train_span_tagger

        config = span_training_config(settings)
        return train_span_tagger(
            base_model, texts, targets, space, config, on_progress, device=settings.device
        )
    except TrainingDataError as error:
        raise TrainingSkipped(
            f"control {control.name!r}: {error} (left out: {describe_skips(examples)})"
        ) from None


def run_training(
    settings: Settings, redis: Redis, project: int, progress: Progress | None = None
) -> dict:
    """Train every predictable control of the project and publish them as one new version."""
    from model.base_model import resolve_base_model

    started = time.monotonic()
    data = load_project_data(settings, redis, project)
    config = parse_label_config(data.label_config)
    base_model = resolve_base_model(settings.base_model)
    store = ModelStore(settings.model_dir)
    controls, skipped = [], []
    with store.staging(project) as staged:
        for index, control in enumerate(config.controls):
            examples = collect_examples(data.tasks, control)
            folder = staged / f"control-{index}"
            try:
                controls.append(
                    train_and_save(
                        base_model, control, examples, project, folder, settings, progress
                    )
                )
            except TrainingSkipped as reason:
                skipped.append(str(reason))
        if not controls:
            raise TrainingSkipped("; ".join(skipped) or "the label config has no control to train")
        record = {
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base_model": settings.base_model,
            "training_source": data.source,
            "annotated_tasks": len(data.tasks),
            "controls": controls,
            "skipped_controls": skipped,
            "seconds": round(time.monotonic() - started, 2),
        }
        version = store.publish(project, staged, record)
    log.info("project %s: published %s in %.1f s", project, version, record["seconds"])
    return {"outcome": "published", "version": version, **summary(record)}


def train_and_save(
    base_model: str,
    control: Control,
    examples: Examples,
    project: int,
    folder: Path,
    settings: Settings,
    progress: Progress | None,
) -> dict:
    """Train one control on its training part, score it on its held-out part, save it."""
    train, held_out = split_examples(
        examples, project, settings.holdout_share, settings.holdout_min_annotations
    )
    report_progress = (
        (lambda p: progress("training", {"control": control.name, **vars(p)})) if progress else None
    )
    model, report = train_control(base_model, control, train, settings, report_progress)
    model.save(folder)
    record = control_record(control, folder.name, train, report)
    record["held_out"] = held_out_record(model, held_out, settings)
    return record


def held_out_record(model, held_out: Examples | None, settings: Settings) -> dict:  # type: ignore[no-untyped-def]
    from model.evaluation import evaluation_record

    if held_out is None:
        return {
            "task_ids": [],
            "skipped": f"held out only from {settings.holdout_min_annotations} annotated tasks on",
        }
    scores = evaluation_record(model.evaluate(held_out.texts, held_out.targets))
    return {"task_ids": held_out.task_ids, **scores}


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
