"""The champion a run's challenger is measured against, and on which tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.label_config import Control
from backend.settings import Settings
from backend.store import REJECTED, ModelStore
from backend.training.examples import Examples
from backend.training.holdout import subset
from backend.training.policy import WARM, WARM_LOSSES, StartPlan, label_set_change


@dataclass
class Champion:
    """The version serving when the run started: what the challenger must not fall below."""

    version: str | None
    record: dict
    folder: Path | None

    @classmethod
    def of(cls, store: ModelStore, project: int) -> Champion:
        version = store.current_version(project)
        if version is None:
            return cls(None, {}, None)
        return cls(
            version, store.read_version(project, version), store.version_dir(project, version)
        )

    def entry(self, control: Control) -> dict | None:
        for entry in self.record.get("controls", []):
            if entry["control"] == control.name:
                return entry
        return None


@dataclass
class ControlRun:
    control: Control
    examples: Examples
    plan: StartPlan
    previous: dict | None  # the champion's record of this control


def comparison_set(
    champion: Champion, run: ControlRun, held_out: Examples | None, settings: Settings
) -> tuple[Examples | None, str | None]:
    """The held-out tasks both models are scored on, or why there is no comparison: a
    champion trained below the held-out threshold saw some of them, and they are dropped."""
    if champion.version is None:
        return None, "the first version of the project"
    changed = label_set_change(run.previous, run.control)
    if changed:
        return None, f"{changed}; the comparison restarts"
    if held_out is None:
        return None, (
            f"fewer than {settings.holdout_min_annotations} annotated tasks, none held out yet"
        )
    seen = set(run.previous.get("task_ids", []) if run.previous else [])
    unseen = [i for i, task in enumerate(held_out.task_ids) if task not in seen]
    if not unseen:
        return None, "the current version trained on every held-out task"
    return (held_out if len(unseen) == len(held_out) else subset(held_out, unseen)), None


def scores(model, examples: Examples) -> dict:  # type: ignore[no-untyped-def]
    from model.evaluation import evaluation_record

    return evaluation_record(model.evaluate(examples.texts, examples.targets))


def lost_warm_start(store: ModelStore, project: int, losses: int = WARM_LOSSES) -> str | None:
    """A full retrain follows `losses` warm-started challengers rejected in a row: warm
    start keeps the champion's habits, and a fresh start is the way out of them. One
    rejection is not enough: it is more often bad annotations than a bad start."""
    statuses = store.statuses(project)
    newest = store.versions(project)[-losses:]
    if len(newest) < losses or any(statuses.get(v) != REJECTED for v in newest):
        return None
    for version in newest:
        controls = store.read_version(project, version).get("controls", [])
        if not any(c.get("start", {}).get("mode") == WARM for c in controls):
            return None
    return f"the last {losses} warm-started challengers ({', '.join(newest)}) were rejected"
