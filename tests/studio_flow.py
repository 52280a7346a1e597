"""Steps of a labelling session in a real Label Studio, shared by the end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import wait_for
from tests.label_studio_server import LabelStudioClient, choices_result


def import_texts(client: LabelStudioClient, project: int, texts: list[str]) -> dict[str, int]:
    client.import_tasks(project, [{"text": text} for text in texts])
    return {t["data"]["text"]: t["id"] for t in client.list_tasks(project)}


def sentiment(label: str) -> list[dict]:
    return choices_result("sentiment", "text", label)


def annotated_count(control: dict) -> int:
    """Tasks a control's version learnt from: its training part and its held-out part."""
    return int(control["examples"]) + len(control["held_out"]["task_ids"])


def version_record(models: Path, project: int, version: str) -> dict:
    return json.loads((models / str(project) / "versions" / version / "version.json").read_text())


def latest_version(models: Path, project: int) -> dict | None:
    pointer = models / str(project) / "current"
    return version_record(models, project, pointer.read_text()) if pointer.exists() else None


def newest_predictions(client: LabelStudioClient, project: int) -> tuple[str, dict[int, list]]:
    """The predictions Label Studio stored from the newest trained version it was served.

    Training goes on while annotations arrive, so versions after the awaited one may
    appear; each was trained on at least as many annotations."""
    versions = {p["model_version"] for p in client.list_predictions(project=project)}
    trained = [v for v in versions if v.startswith("v")]
    assert trained, f"no trained predictions, only {versions}"
    newest = max(trained, key=lambda v: int(v[1:].split("-")[0]))
    return newest, stored_predictions(client, project, newest)


def stored_predictions(client: LabelStudioClient, project: int, version: str) -> dict[int, list]:
    return {
        p["task"]: p["result"]
        for p in client.list_predictions(project=project)
        if p["model_version"] == version
    }


def wait_for_version_trained_on(
    models: Path, project: int, annotated: int, timeout: float, log: Path
) -> dict:
    """The record of the first published version that learnt from `annotated` tasks.

    Versions trained while annotations were still arriving come before it."""

    def trained_on_all() -> dict | None:
        record = latest_version(models, project)
        return record if record and annotated_count(record["controls"][0]) == annotated else None

    return wait_for(trained_on_all, timeout, interval=1, message=log.read_text()[-4000:])
