"""Replaying a labelled data set through the real training code, as if annotators labelled
it in rounds: the learning curve a project would see, and what the gate would decide.

Each round trains every control with `train_control` and the settings' hyper-parameters,
warm-starting from the serving version's saved model as the trainer does, and scores it on
an evaluation set no round ever trains on. The version serving after a round is the one
the gate let through, so a rejected round is warm-started from and compared with the
older version, exactly as in a project.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.errors import TrainingSkipped
from backend.label_config import CHOICES, Control, parse_label_config
from backend.settings import Settings
from backend.training.champion import scores
from backend.training.examples import Examples, collect_examples, latest_annotation, task_text
from backend.training.fit import train_control
from backend.training.holdout import is_held_out
from backend.training.policy import (
    WARM,
    WARM_LOSSES,
    Decision,
    decide,
    label_set_change,
    plan_start,
    version_decision,
)

RANDOM, UNCERTAIN = "random", "uncertain"
ORDERINGS = (RANDOM, UNCERTAIN)
EVAL_SHARE = 0.2  # of the input, held out when no evaluation file is given
SETTINGS_USED = ("warm_start", "gate_tolerance", "device")  # and every train_* setting
RoundCallback = Callable[[dict], None]


class SimulationError(Exception):
    """The simulation cannot run as asked; the message says what to change."""


@dataclass
class Serving:
    """The version serving after a round: what the next one warm-starts from and must beat."""

    version: str | None = None
    folder: Path | None = None
    records: dict[str, dict] = field(default_factory=dict)  # control name -> saved model
    models: dict[str, object] = field(default_factory=dict)
    warm_losses: int = 0  # warm-started versions rejected in a row


@dataclass
class Replay:
    """One ordering and seed: annotated tasks added round by round."""

    ordering: str
    seed: int
    controls: tuple[Control, ...]
    evaluation: dict[str, Examples]
    base_model: str
    settings: Settings
    workdir: Path
    serving: Serving = field(default_factory=Serving)

    def run(self, pool: list[dict], sizes: list[int], on_round: RoundCallback) -> list[dict]:
        order = list(pool)
        random.Random(self.seed).shuffle(order)  # the first round is random in both orderings
        rows: list[dict] = []
        done = 0
        for number, size in enumerate(sizes, 1):
            if self.ordering == UNCERTAIN and done:
                rest = most_uncertain_first(self.serving, self.controls, order[done:])
                order = order[:done] + rest
            for row in self.train_round(number, order[:size], order[done:size]):
                rows.append(row)
                on_round(row)
            done = size
        return rows

    def train_round(self, number: int, annotated: list[dict], added: list[dict]) -> list[dict]:
        version = f"round-{number}"
        folder = self.workdir / f"{self.ordering}-{self.seed}" / version
        full_reason = (
            f"the last {WARM_LOSSES} warm-started challengers were rejected"
            if self.serving.warm_losses >= WARM_LOSSES
            else None
        )
        common = {
            "ordering": self.ordering,
            "seed": self.seed,
            "round": number,
            "labels": len(annotated),
            "added": [int(task["id"]) for task in added],
        }
        trained: dict[str, tuple] = {}
        rows = []
        for index, control in enumerate(self.controls):
            row, model = self.train_one(
                control, annotated, folder / f"control-{index}", full_reason
            )
            rows.append({**common, **row})
            if model is not None:
                trained[control.name] = (model, row)
        self.conclude(version, folder, trained, rows)
        return rows

    def train_one(
        self, control: Control, annotated: list[dict], folder: Path, full_reason: str | None
    ) -> tuple[dict, object | None]:
        """One control's challenger: trained, saved, scored and judged; None if skipped."""
        previous = self.serving.records.get(control.name)
        plan = plan_start(
            self.serving.version, previous, control, self.settings.warm_start, full_reason
        )
        examples = collect_examples(annotated, control)
        row: dict = {"control": control.name, "kind": control.kind, "examples": len(examples)}
        row["start"] = plan.to_dict()
        start_from = None
        if plan.mode == WARM and self.serving.folder is not None and previous is not None:
            start_from = self.serving.folder / previous["folder"]
        try:
            model, report = train_control(
                self.base_model, control, examples, self.settings, None, start_from
            )
        except TrainingSkipped as reason:
            return {**row, "metric": None, "value": None, "skipped": str(reason)}, None
        model.save(folder)
        evaluated = self.evaluation[control.name]
        figures = scores(model, evaluated)
        champion = previous["scores"] if previous else None
        decision = decide(
            figures, champion, len(evaluated), self.settings.gate_tolerance, self.why_not(control)
        )
        row.update(metric=figures["metric"], value=figures["value"], evaluation=figures)
        row.update(seconds=round(report.seconds, 2), decision=decision.to_dict())
        return row, model

    def why_not(self, control: Control) -> str | None:
        """Why there is nothing to compare with, as `comparison_set` says it."""
        if self.serving.version is None:
            return "the first version of the project"
        return label_set_change(self.serving.records.get(control.name), control)

    def conclude(self, version: str, folder: Path, trained: dict, rows: list[dict]) -> None:
        """The version serves only if every trained control passed; a round that trained
        nothing publishes nothing."""
        if not trained:
            for row in rows:
                row.update(accepted=None, serving=self.serving.version)
            return
        verdict = version_decision(
            {name: Decision(**r["decision"]) for name, (_, r) in trained.items()}
        )
        warm = any(r["start"]["mode"] == WARM for _, r in trained.values())
        if verdict.accepted:
            if self.serving.folder is not None:
                shutil.rmtree(self.serving.folder, ignore_errors=True)
            self.serving = Serving(version, folder, self.saved(folder, trained), {})
            self.serving.models = {name: model for name, (model, _) in trained.items()}
        else:
            shutil.rmtree(folder, ignore_errors=True)
            self.serving.warm_losses = self.serving.warm_losses + 1 if warm else 0
        for row in rows:
            row.update(accepted=verdict.accepted, serving=self.serving.version)

    def saved(self, folder: Path, trained: dict) -> dict[str, dict]:
        records = {}
        for index, control in enumerate(self.controls):
            if control.name in trained:
                records[control.name] = {
                    "kind": control.kind,
                    "labels": list(control.labels),
                    "multi_label": control.multi_label,
                    "folder": f"control-{index}",
                    "scores": trained[control.name][1]["evaluation"],
                }
        return records


def most_uncertain_first(
    serving: Serving, controls: Sequence[Control], tasks: list[dict]
) -> list[dict]:
    """Tasks by the serving models' confidence, lowest first; a task's confidence is its
    least confident control's. Ties keep their (seeded random) order."""
    lowest = [1.0] * len(tasks)
    for control in controls:
        model = serving.models.get(control.name)
        indexes = [i for i, task in enumerate(tasks) if task_text(task, control)]
        if model is None or not indexes:
            continue
        texts = [task_text(tasks[i], control) or "" for i in indexes]
        for i, confidence in zip(indexes, confidences(model, control, texts), strict=True):
            lowest[i] = min(lowest[i], confidence)
    return [tasks[i] for i in sorted(range(len(tasks)), key=lowest.__getitem__)]


def confidences(model, control: Control, texts: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    """A classifier's top probability (multi-label: its certainty of every yes and no); a
    tagger's task score."""
    if control.kind == CHOICES:
        return [model.decide(row).score for row in model.predict_proba(texts)]
    return [prediction.score for prediction in model.predict(texts)]


def split_evaluation(
    tasks: list[dict], eval_tasks: list[dict] | None
) -> tuple[list[dict], list[dict], str]:
    """(pool to annotate from, evaluation tasks, where these came from)."""
    annotated = [task for task in tasks if latest_annotation(task) is not None]
    if eval_tasks is not None:
        return annotated, eval_tasks, "evaluation file"
    held = [is_held_out(0, int(task["id"]), EVAL_SHARE) for task in annotated]
    pool = [task for task, out in zip(annotated, held, strict=True) if not out]
    evaluation = [task for task, out in zip(annotated, held, strict=True) if out]
    return pool, evaluation, f"{EVAL_SHARE:.0%} of the input, held out by task id"


def evaluation_examples(controls: Sequence[Control], tasks: list[dict]) -> dict[str, Examples]:
    examples = {control.name: collect_examples(tasks, control) for control in controls}
    empty = [name for name, found in examples.items() if not len(found)]
    if empty:
        raise SimulationError(
            f"the evaluation set has no usable annotation for {', '.join(empty)}: give an "
            "evaluation file (--eval) with annotations of every control"
        )
    return examples


def checked_sizes(sizes: Sequence[int], pool: int) -> list[int]:
    kept = sorted({size for size in sizes if 0 < size <= pool})
    if not kept:
        raise SimulationError(
            f"every size ({', '.join(map(str, sizes))}) is above the {pool} annotated tasks "
            "available for training: give smaller --sizes"
        )
    return kept


def settings_used(settings: Settings) -> dict:
    """What shapes training and gating; never the secrets beside them."""
    return {
        name: value
        for name, value in asdict(settings).items()
        if name.startswith("train_") or name in SETTINGS_USED
    }


def simulate(
    tasks: list[dict],
    label_config: str,
    sizes: Sequence[int],
    orderings: Sequence[str],
    seeds: Sequence[int],
    base_model: str,
    settings: Settings,
    eval_tasks: list[dict] | None = None,
    on_round: RoundCallback | None = None,
) -> dict:
    """Every seed and ordering, round by round; a JSON-ready record of it all."""
    import torch

    from model.base_model import base_model_record, resolve_base_model
    from model.runtime import select_device

    if not orderings or not seeds or any(o not in ORDERINGS for o in orderings):
        raise SimulationError(
            f"give at least one seed and one ordering of {', '.join(ORDERINGS)}, "
            f"not {list(orderings)}"
        )
    started = time.monotonic()
    controls = parse_label_config(label_config).controls
    pool, evaluation, source = split_evaluation(tasks, eval_tasks)
    kept = checked_sizes(sizes, len(pool))
    evaluated = evaluation_examples(controls, evaluation)
    resolved = resolve_base_model(base_model)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="lsbert-simulate-") as workdir:
        for seed in seeds:
            for ordering in orderings:
                replay = Replay(
                    ordering, seed, controls, evaluated, resolved, settings, Path(workdir)
                )
                rows += replay.run(pool, kept, on_round or (lambda row: None))
    return {
        "format": "lsbert-simulation/1",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": str(select_device(settings.device)),
            "torch": torch.__version__,
        },
        "base_model": base_model_record(base_model, resolved),
        "settings": settings_used(settings),
        "controls": [{"name": c.name, "kind": c.kind, "labels": list(c.labels)} for c in controls],
        "pool": len(pool),
        "evaluation": {"source": source, "examples": {n: len(e) for n, e in evaluated.items()}},
        "sizes": kept,
        "dropped_sizes": sorted({s for s in sizes if s not in kept}),
        "orderings": list(orderings),
        "seeds": list(seeds),
        "rounds": rows,
        "seconds": round(time.monotonic() - started, 1),
    }
