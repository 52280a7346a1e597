"""The label quality report of a run, as `MODEL_DIR/<project>/quality.json` keeps it and
`GET /quality` serves it: the agreement figures, the suspect-label queue, and what the
next run's gate leaves out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from backend.clock import utc_now
from backend.label_config import parse_label_config
from backend.quality.agreement import annotation_outcomes, control_agreement
from backend.quality.between import between_annotators
from backend.quality.records import annotated, predictions_by_id
from backend.quality.suspects import Scored, control_queue, ranked
from backend.settings import Settings
from backend.store import ModelStore, agreement_of_version
from backend.training.examples import collect_examples
from backend.training.project_data import ProjectData

log = logging.getLogger(__name__)
FORMAT = "lsbert-quality/1"


def agreement_of(data: ProjectData, min_count: int) -> dict:
    """Model against annotators per version, and annotators against each other, per
    control; each annotation made from a prediction with its outcome."""
    controls = list(parse_label_config(data.label_config).controls)
    rows = annotated(data.tasks, controls)
    predictions = predictions_by_id(data.predictions, data.tasks, controls)
    return {
        "min_count": min_count,
        "predictions": len(predictions),
        "controls": {
            c.name: {
                "kind": c.kind,
                "versions": control_agreement(rows, predictions, c, min_count),
                "between_annotators": between_annotators(rows, c, min_count),
            }
            for c in controls
        },
        "annotations": annotation_outcomes(rows, predictions, controls),
    }


def by_version(agreement: dict) -> dict:
    """Every version's figures per control, without the per-annotation rows: what a
    version record keeps of the agreement measured when it was trained."""
    versions = {v for entry in agreement["controls"].values() for v in entry["versions"]}
    return {v: agreement_of_version(agreement, v) for v in sorted(versions)}


def suspect_queue(
    store: ModelStore, project: int, data: ProjectData, version: str, settings: Settings
) -> list[Scored]:
    from model.base_model import resolve_base_model
    from model.runtime import select_device

    record = store.read_version(project, version)
    folder = store.version_dir(project, version)
    device = str(select_device(settings.device))
    base_model = resolve_base_model(settings.base_model)
    scored: list[Scored] = []
    for control in parse_label_config(data.label_config).controls:
        entry = record.control(control.name)
        own = folder / entry.folder if entry and settings.quality_encoder == "version" else None
        scored += control_queue(data.tasks, control, base_model, own, device)
    return scored


def quality_report(
    store: ModelStore,
    project: int,
    data: ProjectData,
    version: str,
    settings: Settings,
    agreement: dict,
) -> dict:
    """Score every annotated task after the run that made `version`; the whole report."""
    started, cpu = time.monotonic(), time.process_time()
    scored = suspect_queue(store, project, data, version, settings)
    queue, suspects = ranked(scored, settings.quality_suspect_share)
    gate: dict[str, dict[str, str]] = {}
    for entry in suspects:
        gate.setdefault(entry.control, {})[str(entry.task)] = entry.key
    return {
        "format": FORMAT,
        "project": project,
        "version": version,
        "computed_at": utc_now(),
        "seconds": round(time.monotonic() - started, 2),
        # on a shared machine wall time counts the others' work too; with one thread this
        # is what the queue costs the worker
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "encoder": settings.quality_encoder,
        "suspect_share": settings.quality_suspect_share,
        "agreement": agreement,
        "suspects": queue,
        "suspect_tasks": len({s.task for s in suspects}),
        "gate": gate,
    }


def gate_suspects(report: dict | None, data: ProjectData) -> Mapping[str, tuple[int, ...]]:
    """Per control, the tasks the last queue marked suspect whose label is still the one
    it doubted: the gate leaves those out when held out. A label put right since is no
    longer suspect."""
    if not report:
        return {}
    found = {}
    for control in parse_label_config(data.label_config).controls:
        doubted = (report.get("gate") or {}).get(control.name) or {}
        now = collect_examples(data.tasks, control).keys()
        found[control.name] = tuple(
            sorted(int(t) for t, key in doubted.items() if now.get(int(t)) == key)
        )
    return found


def publish_quality(
    store: ModelStore,
    project: int,
    data: ProjectData,
    version: str,
    settings: Settings,
    agreement: dict,
) -> dict:
    """Score the queue, show the suspects in Label Studio (API mode, QUALITY_VIEW), and
    keep the report beside the versions; a summary for the job's result."""
    from backend.errors import LabelStudioError
    from backend.labelstudio import LabelStudioClient
    from backend.quality.studio_view import publish_view

    report = quality_report(store, project, data, version, settings, agreement)
    if settings.api_configured and settings.quality_view:
        client = LabelStudioClient(
            settings.label_studio_url, settings.label_studio_api_key, settings.label_studio_timeout
        )
        try:
            report["label_studio"] = publish_view(client, project, report["suspects"], data.tasks)
        except LabelStudioError as error:  # the version is out already: say so, do not fail it
            log.warning("project %s: suspects not shown in Label Studio: %s", project, error)
            report["label_studio"] = {"error": str(error)}
    store.write_quality(project, report)
    return {
        "seconds": report["seconds"],
        "scored": len(report["suspects"]),
        "suspect_tasks": report["suspect_tasks"],
    }
