"""What a push has to do, from what Label Studio holds: pure bookkeeping, no model, no
network.

A push starts by reading every task and every prediction the version already has there,
so a push killed halfway and run again predicts only what is missing: Label Studio ends
with exactly one prediction per task of the version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PushPlan:
    todo: list[dict]  # tasks without a prediction of the version: unannotated first
    total: int  # tasks of the project
    already: int  # tasks that hold one already (a resumed push)
    extra: list[int]  # ids of predictions beyond a task's first of the version

    @property
    def annotated_todo(self) -> int:
        return sum(1 for task in self.todo if task.get("is_labeled"))


def plan_push(tasks: Sequence[dict], existing: dict[int, list[int]]) -> PushPlan:
    """`existing`: task id -> ids of its predictions of the version. Tasks to predict come
    unannotated first (what annotators will open next), each group in id order."""
    todo = [task for task in tasks if not existing.get(int(task["id"]))]
    todo.sort(key=lambda task: (bool(task.get("is_labeled")), int(task["id"])))
    project_ids = {int(task["id"]) for task in tasks}
    extra = [
        prediction
        for task, found in sorted(existing.items())
        if task in project_ids
        for prediction in sorted(found)[1:]
    ]
    already = sum(1 for task in project_ids if existing.get(task))
    return PushPlan(todo, len(tasks), already, extra)


def batches(items: Sequence[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def predictions_by_task(predictions: Iterable[dict], version: str) -> dict[int, list[int]]:
    """Task id -> ids of its predictions of `version`, from `GET /api/predictions`."""
    found: dict[int, list[int]] = {}
    for prediction in predictions:
        if prediction.get("model_version") == version and isinstance(prediction.get("task"), int):
            found.setdefault(prediction["task"], []).append(int(prediction["id"]))
    return found


@dataclass
class PushProgress:
    """Tasks done out of those to do, how fast, and how long the rest will take."""

    total: int
    started: float  # time.monotonic() when predicting began
    done: int = 0
    stored: int = 0

    def rate(self, now: float) -> float | None:
        elapsed = now - self.started
        return self.done / elapsed if self.done and elapsed > 0 else None

    def eta_seconds(self, now: float) -> float | None:
        rate = self.rate(now)
        return (self.total - self.done) / rate if rate else None

    def summary(self, now: float) -> dict:
        rate, eta = self.rate(now), self.eta_seconds(now)
        return {
            "done": self.done,
            "total": self.total,
            "stored": self.stored,
            # what a training job's progress calls them: the project page draws both alike
            "step": self.done,
            "total_steps": self.total,
            "rate": round(rate, 1) if rate is not None else None,
            "eta_seconds": round(eta, 1) if eta is not None else None,
        }
