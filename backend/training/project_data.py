"""What a run trains on: the project's label config and annotated tasks, from Label
Studio's API (API mode) or from what webhooks delivered (webhook mode)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from redis import Redis

from backend.errors import LabelStudioError
from backend.labelstudio import LabelStudioClient
from backend.redis_store import ProjectConfigs, WebhookAnnotations
from backend.settings import Settings


@dataclass
class ProjectData:
    label_config: str
    tasks: list[dict]  # Label Studio tasks with their annotations inline, as exported
    source: str  # label-studio-api, webhooks, or what a replay calls itself
    _: KW_ONLY
    unlabelled: list[dict] = field(default_factory=list)  # tasks nobody annotated yet
    # the project's stored predictions, each with its model_version (API mode only): what
    # label quality control compares annotations with
    predictions: list[dict] = field(default_factory=list)


def load_project_data(settings: Settings, redis: Redis, project: int) -> ProjectData:
    if settings.api_configured:
        client = LabelStudioClient(
            settings.label_studio_url, settings.label_studio_api_key, settings.label_studio_timeout
        )
        tasks = client.annotated_tasks(project)
        return ProjectData(
            client.label_config(project),
            tasks,
            "label-studio-api",
            unlabelled=unannotated(client, project, tasks) if settings.semi_supervised else [],
            predictions=client.predictions(project),
        )
    label_config = ProjectConfigs(redis).get(project)
    if not label_config:
        raise LabelStudioError(
            f"no label config known for project {project}: connect the backend in the "
            "project's Model settings (it sends its config), or set LABEL_STUDIO_URL and "
            "LABEL_STUDIO_API_KEY"
        )
    return ProjectData(label_config, WebhookAnnotations(redis).tasks(project), "webhooks")


def unannotated(client: LabelStudioClient, project: int, annotated: list[dict]) -> list[dict]:
    """The project's tasks that the export of annotated ones does not hold (id and data):
    what a semi-supervised run may pseudo-label."""
    seen = {task.get("id") for task in annotated}
    return [
        {"id": task["id"], "data": task.get("data") or {}}
        for task in client.tasks(project)
        if task.get("id") not in seen
    ]
