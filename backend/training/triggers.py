"""When annotation events start a training run.

The first run starts once a project has TRAIN_MIN_ANNOTATIONS annotated tasks; later runs
once TRAIN_EVERY_CHANGES annotations were created, updated or deleted since the last run
began. START_TRAINING always starts one. The count lives in Redis
(backend.redis_store.AnnotationChanges) and is taken by the run when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    train: bool
    reason: str


def verdict(
    changes: int,
    annotated: int | None,
    has_version: bool,
    min_annotations: int,
    every_changes: int,
) -> Verdict:
    """Whether annotation events justify a run now. `annotated` is the project's count of
    annotated tasks where known (Label Studio sends it with each event)."""
    if not has_version:
        count = annotated if annotated is not None else changes
        if count >= min_annotations:
            return Verdict(True, f"{count} annotated tasks, first run at {min_annotations}")
        return Verdict(False, f"{count} annotated tasks; the first run starts at {min_annotations}")
    if changes >= every_changes:
        return Verdict(True, f"{changes} annotation changes since the last run")
    return Verdict(
        False,
        f"{changes} annotation changes since the last run; the next starts at "
        f"{every_changes} changes",
    )
