"""A held-out share of each project's annotated tasks, chosen by a hash of the task id.

The same task is always on the same side, however the project grows, so a version's
held-out score is measured on tasks it never trained on and comparable with the next's.
"""

from __future__ import annotations

import hashlib

from backend.training.examples import Examples


def is_held_out(project: int, task_id: int, share: float) -> bool:
    digest = hashlib.sha256(f"{project}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def subset(examples: Examples, keep: list[int]) -> Examples:
    part = Examples(examples.control, skipped=examples.skipped)
    part.task_ids = [examples.task_ids[i] for i in keep]
    part.texts = [examples.texts[i] for i in keep]
    part.targets = [examples.targets[i] for i in keep]
    return part


def split_examples(
    examples: Examples, project: int, share: float, minimum: int
) -> tuple[Examples, Examples | None]:
    """(training part, held-out part); no held-out part below `minimum` annotated tasks,
    where every label is needed for training."""
    if len(examples) < minimum or share <= 0:
        return examples, None
    held = [i for i, task in enumerate(examples.task_ids) if is_held_out(project, task, share)]
    if not held:
        return examples, None
    chosen = set(held)
    train = [i for i in range(len(examples)) if i not in chosen]
    return subset(examples, train), subset(examples, held)
