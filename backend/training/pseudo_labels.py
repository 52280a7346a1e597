"""Learning from the project's unlabelled tasks: confident pseudo-labels from the champion.

Few-label projects hold thousands of tasks nobody annotated yet, from the very distribution
the model serves. The version serving now (the champion, whose scores are calibrated) reads
a capped sample of them; the texts it is surest of, up to as many as the annotations, in
the annotations' label proportions, join the challenger's training with a lower weight.
They are refreshed every run, never include annotated tasks (held-out ones included), and
a version trained this way serves only if the gate lets it, like any other.
Classifiers only: span models learn from annotations alone.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from backend.label_config import CHOICES, Control
from backend.settings import Settings
from backend.training.examples import Examples, task_text


@dataclass
class PseudoLabels:
    texts: list[str] = field(default_factory=list)
    targets: list[list[str]] = field(default_factory=list)
    record: dict = field(default_factory=dict)  # what the version records of them


def unlabelled_texts(tasks: list[dict], control: Control, cap: int, seed: int) -> list[str]:
    """Up to `cap` texts of the control's field, a seeded sample (the same each run while
    the pool stays the same), from tasks with no annotation."""
    texts = [text for task in tasks if (text := task_text(task, control))]
    if len(texts) > cap:
        texts = random.Random(seed).sample(texts, cap)
    return texts


def pseudo_labels(
    teacher,
    control: Control,
    pool: list[str],
    train: Examples,
    settings: Settings,
    version: str,  # type: ignore[no-untyped-def]
) -> PseudoLabels:
    """The teacher's most confident single-choice answers on the pool, above the
    threshold, at most PSEUDO_LABEL_RATIO times the annotations, in their label shares."""
    if control.kind != CHOICES or control.multi_label or not pool or not len(train):
        return PseudoLabels(record={"used": 0, "reason": "single-choice classifiers only"})
    threshold = settings.pseudo_label_threshold
    answers = [teacher.decide(row) for row in teacher.predict_proba(pool)]
    confident = sorted(
        (i for i, a in enumerate(answers) if a.score >= threshold),
        key=lambda i: -answers[i].score,
    )
    budget = int(settings.pseudo_label_ratio * len(train))
    shares = Counter(target[0] for target in train.targets)
    chosen: list[int] = []
    for label, count in shares.items():
        quota = round(budget * count / len(train))
        chosen += [i for i in confident if answers[i].labels == (label,)][:quota]
    found = PseudoLabels([pool[i] for i in chosen], [list(answers[i].labels) for i in chosen])
    found.record = {
        "teacher": version,
        "pool": len(pool),
        "above_threshold": len(confident),
        "used": len(chosen),
        "threshold": threshold,
        "weight": settings.pseudo_label_weight,
        "label_counts": dict(Counter(t[0] for t in found.targets)),
    }
    return found
