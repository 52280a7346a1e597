"""One training run of a project: gather annotations, train a model per control, publish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from backend.annotations import Examples, collect_examples
from backend.errors import LabelStudioError, TrainingSkipped
from backend.label_config import ChoicesControl, parse_label_config
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


def train_control(
    base_model: str, control: ChoicesControl, examples: Examples, settings: Settings, on_progress
):  # type: ignore[no-untyped-def]
    from model.errors import TrainingDataError
    from model.labels import LabelSpace
    from model.training import train_classifier

    space = LabelSpace(control.labels, control.multi_label)
    try:
        return train_classifier(
            base_model,
            examples.texts,
            examples.labels,
            space,
            training_config(settings),
            on_progress,
            device=settings.device,
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
            report_progress = (
                (lambda p, c=control.name: progress("training", {"control": c, **vars(p)}))
                if progress
                else None
            )
            try:
                model, report = train_control(
                    base_model, control, examples, settings, report_progress
                )
            except TrainingSkipped as reason:
                skipped.append(str(reason))
                continue
            folder = f"control-{index}"
            model.save(staged / folder)
            controls.append(control_record(control, folder, examples, report))
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


def control_record(control: ChoicesControl, folder: str, examples: Examples, report) -> dict:  # type: ignore[no-untyped-def]
    return {
        "control": control.name,
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
    }


def summary(record: dict) -> dict:
    return {
        "seconds": record["seconds"],
        "training_source": record["training_source"],
        "controls": {
            c["control"]: {"examples": c["examples"], "left_out": c["left_out"]}
            for c in record["controls"]
        },
        "skipped_controls": record["skipped_controls"],
    }
