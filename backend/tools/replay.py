"""One ordering and seed of `lsbert simulate`: annotated tasks added round by round, each
round a real training run on a model store of its own, as a project's worker runs it.

What serves after a round is what the run's gate decided: a rejected challenger is kept
in the store (and scored, to show what the gate turned away), and the champion serves on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.errors import TrainingSkipped
from backend.label_config import CHOICES, Control, parse_label_config
from backend.quality.report import gate_suspects, quality_report
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.corruption import Poison, corrupted, corruptible
from backend.tools.studio_order import LABEL_STUDIO, StudioOrder
from backend.training.examples import Examples, collect_examples, task_text
from backend.training.project_data import ProjectData
from backend.training.run import QualityInput, RunOutcome, train_version

RANDOM, UNCERTAIN = "random", "uncertain"
ORDERINGS = (RANDOM, UNCERTAIN, LABEL_STUDIO)
PROJECT = 1  # every replay has a store of its own, holding this one project
RoundCallback = Callable[[dict], None]


class SimulationError(Exception):
    """The simulation cannot run as asked; the message says what to change."""


@dataclass
class Served:
    """The version serving after a round, its models and their scores on the evaluation set."""

    version: str | None = None
    models: dict[str, Any] = field(default_factory=dict)  # control name -> model
    scores: dict[str, dict] = field(default_factory=dict)


@dataclass
class Replay:
    ordering: str
    seed: int
    label_config: str
    evaluation: dict[str, Examples]
    settings: Settings
    folder: Path
    poisons: tuple[Poison, ...] = ()
    unlabelled: list[dict] | None = None  # None: the pool's tasks not annotated yet
    studio: StudioOrder | None = None  # the label-studio ordering: its project there
    served: Served = field(default_factory=Served)

    def __post_init__(self) -> None:
        self.controls = parse_label_config(self.label_config).controls
        self.store = ModelStore(self.folder)
        self.poisoned: dict[Poison, set[int]] = {}  # the tasks each poison chose

    def not_annotated(self, annotated: list[dict]) -> list[dict]:
        """The project's unlabelled tasks, as Label Studio lists them: no annotations."""
        if self.unlabelled is not None:
            return self.unlabelled
        taken = {int(task["id"]) for task in annotated}
        return [
            {"id": task["id"], "data": task["data"]}
            for task in self.pool
            if int(task["id"]) not in taken
        ]

    def labelled(self, number: int, annotated: list[dict]) -> tuple[list[dict], int]:
        """The round's tasks as annotators left them: with the wrong labels of the poisons
        active in this round (each chooses its tasks once, at its first round, among
        those with a label to make wrong)."""
        wrong: set[int] = set()
        for poison in self.poisons:
            if not poison.active(number):
                continue
            if poison not in self.poisoned:
                rng = random.Random(f"{self.seed}:{poison}")
                ids = sorted(int(t["id"]) for t in annotated if corruptible(t, self.controls))
                count = min(len(ids), round(poison.share * len(annotated)))
                self.poisoned[poison] = set(rng.sample(ids, count))
            wrong |= self.poisoned[poison]
        rng = random.Random(f"{self.seed}:{number}")
        tasks = [
            corrupted(task, self.controls, rng) if int(task["id"]) in wrong else task
            for task in annotated
        ]
        return tasks, len(wrong)

    def run(self, pool: list[dict], sizes: list[int], on_round: RoundCallback) -> list[dict]:
        self.pool = pool
        order = list(pool)
        random.Random(self.seed).shuffle(order)  # the first round is random in both orderings
        rows: list[dict] = []
        done = 0
        for number, size in enumerate(sizes, 1):
            if self.ordering == UNCERTAIN and done:
                rest = most_uncertain_first(self.served.models, self.controls, order[done:])
                order = order[:done] + rest
            elif self.studio is not None:
                order = order[:done] + self.studio_round(order[done:], size - done, bool(done))
            for row in self.train_round(number, order[:size], order[done:size]):
                rows.append(row)
                on_round(row)
            done = size
        return rows

    def studio_round(self, rest: list[dict], count: int, pushed: bool) -> list[dict]:
        """The rest of the pool, the `count` tasks Label Studio serves next first. The
        first round takes the seeded random order, as the other orderings do."""
        assert self.studio is not None
        if count <= 0:
            return rest  # a round of relabels: no new task
        if not pushed or self.served.version is None:
            self.studio.annotate(rest[:count])
            return rest
        self.studio.push(self.served.version, self.served.models)
        chosen = self.studio.next_tasks(count)
        picked = {id(task) for task in chosen}
        return chosen + [task for task in rest if id(task) not in picked]

    def train_round(self, number: int, annotated: list[dict], added: list[dict]) -> list[dict]:
        common = {
            "ordering": self.ordering,
            "seed": self.seed,
            "round": number,
            "labels": len(annotated),
            "added": [int(task["id"]) for task in added],
        }
        tasks, common["poisoned"] = self.labelled(number, annotated)
        data = ProjectData(
            self.label_config, tasks, "simulation", unlabelled=self.not_annotated(annotated)
        )
        suspects = gate_suspects(self.store.read_quality(PROJECT), data)
        try:
            outcome = train_version(
                self.store, PROJECT, data, self.settings, quality=QualityInput(suspects)
            )
        except TrainingSkipped as reason:
            return [{**common, **self.skipped_row(c, str(reason))} for c in self.controls]
        report = quality_report(self.store, PROJECT, data, outcome.version, self.settings, {})
        self.store.write_quality(PROJECT, report)
        wrong = wrong_labels(self.controls, annotated, tasks)
        challenger = self.scored(outcome.version)
        if outcome.accepted:
            self.served = challenger
        self.store.prune(PROJECT, self.settings.keep_versions)
        return [
            {**common, **self.row(c, outcome, challenger), "quality": found(report, c, wrong)}
            for c in self.controls
        ]

    def scored(self, version: str) -> Served:
        from model.loading import load_model
        from model.runtime import select_device

        device = str(select_device(self.settings.device))
        folder = self.store.version_dir(PROJECT, version)
        record = self.store.read_version(PROJECT, version)
        models = {
            c.control: load_model(
                c.kind, folder / c.folder, device, self.settings.inference_runtime
            )
            for c in record.controls
        }
        return Served(
            version, models, {n: scores(m, self.evaluation[n]) for n, m in models.items()}
        )

    def row(self, control: Control, outcome: RunOutcome, challenger: Served) -> dict:
        entry = outcome.record.control(control.name)
        if entry is None:
            reason = "; ".join(outcome.record.skipped_controls)
            return self.skipped_row(control, reason or "not trained")
        served = self.served.scores.get(control.name)
        return {
            "control": control.name,
            "kind": control.kind,
            "examples": entry.examples,
            "held_out": len(entry.held_out.task_ids),
            "start": entry.start.to_dict(),
            "decision": entry.decision.to_dict() if entry.decision else None,
            "version": outcome.version,
            "accepted": outcome.accepted,
            "serving": self.served.version,
            "seconds": entry.seconds,
            "metric": served["metric"] if served else None,
            "value": served["value"] if served else None,  # the served version's, the curve
            "evaluation": served,
            "challenger": challenger.scores.get(control.name),
        }

    def skipped_row(self, control: Control, reason: str) -> dict:
        served = self.served.scores.get(control.name)
        return {
            "control": control.name,
            "kind": control.kind,
            "skipped": reason,
            "start": {"mode": "-"},
            "accepted": None,
            "serving": self.served.version,
            "metric": served["metric"] if served else None,
            "value": served["value"] if served else None,
            "evaluation": served,
        }


def scores(model, examples: Examples) -> dict:  # type: ignore[no-untyped-def]
    """The evaluation record, and for a classifier the expected calibration error of its
    served (temperature-scaled) scores, do they mean what they say, and of its scores
    without the temperature (`ece_uncalibrated`), what calibration bought."""
    from model.evaluation import evaluate_choices, evaluation_record

    if not hasattr(model, "raw_logits"):  # a span tagger
        return evaluation_record(model.evaluate(examples.texts, examples.targets))
    from model.calibration import choice_confidences, expected_calibration_error
    from model.training import targets_tensor

    logits = model.raw_logits(examples.texts)  # once, for both figures
    predicted = [model.decide(row).labels for row in model.probabilities(logits).tolist()]
    record = evaluation_record(evaluate_choices(predicted, examples.targets))
    targets = targets_tensor(examples.targets, model.label_space)
    multi = model.label_space.multi_label
    found = choice_confidences(logits, targets, multi, model.temperature)
    record["ece"] = expected_calibration_error(*found)
    raw = choice_confidences(logits, targets, multi, 1.0)
    record["ece_uncalibrated"] = expected_calibration_error(*raw)
    return record


def most_uncertain_first(
    models: dict[str, Any], controls: Sequence[Control], tasks: list[dict]
) -> list[dict]:
    """Tasks by the serving models' confidence, lowest first; a task's confidence is its
    least confident control's. Ties keep their (seeded random) order."""
    lowest = [1.0] * len(tasks)
    for control in controls:
        model = models.get(control.name)
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


def wrong_labels(
    controls: Sequence[Control], honest: list[dict], given: list[dict]
) -> dict[str, set[int]]:
    """Per control, the tasks whose label the poisons really changed."""
    changed = {}
    for control in controls:
        before = collect_examples(honest, control).keys()
        after = collect_examples(given, control).keys()
        changed[control.name] = {t for t, key in after.items() if before.get(t) != key}
    return changed


def found(report: dict, control: Control, wrong: dict[str, set[int]]) -> dict:
    """How high the wrong labels rank in the control's queue: the share of them among
    its first n and 2n entries (n: how many there are)."""
    queue = [entry["task"] for entry in report["suspects"] if entry["control"] == control.name]
    planted = wrong.get(control.name, set())
    n = len(planted)
    return {
        "seconds": report["seconds"],
        "encoder": report["encoder"],
        "scored": len(queue),
        "wrong": n,
        "suspects": sum(e["suspect"] for e in report["suspects"] if e["control"] == control.name),
        "found_in_top_n": len(planted & set(queue[:n])) / n if n else None,
        "found_in_top_2n": len(planted & set(queue[: 2 * n])) / n if n else None,
        "wrong_among_suspects": sum(
            e["task"] in planted and e["suspect"]
            for e in report["suspects"]
            if e["control"] == control.name
        ),
    }
