"""Which tasks a challenger and the champion are compared on, and whether the challenger
learnt from everything the champion learnt from (a superset of its annotations).

Fair tasks are those the champion never trained on: held-out tasks with the labels they
have now, less any relabelled since the champion was judged (its yardstick would have
moved) and any with a suspect label. Where these are fewer than GATE_MIN_TASKS and the
challenger must show it is at least as good (not on a superset), the tasks annotated since
the champion too, which the challenger's recipe then answers out of fold: where they are
at least as many again (otherwise k extra trainings buy little) and the fold models learn
from as many annotations as the champion did (otherwise they lose for want of labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backend.label_config import Control
from backend.training.policy.start import label_set_change
from backend.version_record import WARM, ControlRecord, StartPlan
from model.paired import PairedDifference

# how far the champion's score on its own held-out tasks may fall, once their labels changed,
# before the change reads as relabelling (a moved yardstick) rather than as noise
COLLAPSE = 0.1
SEEN = "the current version trained on"
RELABELLED = "relabelled since the current version was judged"
SUSPECT = "with a suspect label"


@dataclass(frozen=True)
class ComparisonPlan:
    """Positions, in the run's held-out and training parts, that both models answer."""

    held_out: list[int]  # held-out positions compared
    own_held_out: list[int]  # held-out positions the champion was judged on (a self-check)
    new: list[int]  # training positions the champion never saw, compared out of fold
    left_out: dict[str, int]
    changed: tuple[int, ...]  # task ids relabelled since the champion was judged
    not_superset: str | None
    champion_then: float | None = None  # the champion's recorded score on its held-out tasks
    corrections: str | None = None  # labels changed, but few enough to be corrections
    no_out_of_fold: str | None = None  # why the new tasks are not compared, where they would be


def plan_comparison(
    champion: str | None,
    previous: ControlRecord | None,
    control: Control,
    plan: StartPlan,
    held_out: Mapping[int, str],
    train: Mapping[int, str],
    suspects: Sequence[int] = (),
    min_tasks: int = 0,
    corrections_share: float = 0.0,
    folds: int = 3,
) -> ComparisonPlan | str:
    """The comparison to make, or why there is none (`held_out` and `train`: task id ->
    target key, in the order of the run's parts)."""
    if champion is None:
        return "the first version of the project"
    changed_set = label_set_change(previous, control)
    if changed_set or previous is None:
        return f"{changed_set}; the comparison restarts"
    seen, judged = set(previous.task_ids), set(previous.held_out.task_ids)
    then, suspect = previous.targets, set(suspects)
    left_out = dict.fromkeys((SEEN, RELABELLED, SUSPECT), 0)
    compared, own, changed = [], [], []
    for position, (task, key) in enumerate(held_out.items()):
        relabelled = task in judged and str(task) in then and then[str(task)] != key
        if task in judged:
            own.append(position)
        if task in seen:
            left_out[SEEN] += 1
        elif relabelled:
            left_out[RELABELLED] += 1
            changed.append(task)
        elif task in suspect:
            left_out[SUSPECT] += 1
        else:
            compared.append(position)
    gap = superset_gap(champion, previous, plan, {**train, **held_out})
    not_superset = None if gap.corrections(corrections_share) else gap.reason
    new, no_out_of_fold = [], None
    # Only a challenger that must show it is at least as good is scored out of fold: the
    # fold models learnt from fewer labels than it, and their answers must not turn away a
    # challenger on more data (an honest full restart's fold models lost to the champion
    # 0.676 to 0.780, McNemar p=0.016, in a real Label Studio project).
    if not_superset is not None and len(compared) < min_tasks:
        unseen = [i for i, task in enumerate(train) if task not in seen and task not in judged]
        no_out_of_fold = fold_shortfall(champion, previous, plan, len(train), folds)
        if len(unseen) >= len(compared) and no_out_of_fold is None:  # else k trainings buy little
            new = unseen
    return ComparisonPlan(
        compared,
        own,
        new,
        left_out,
        tuple(changed),
        not_superset,
        previous.held_out.value,
        gap.reason if not_superset is None else None,
        no_out_of_fold,
    )


def fold_shortfall(
    champion: str, previous: ControlRecord, plan: StartPlan, train_size: int, folds: int
) -> str | None:
    """Why out-of-fold answers would understate the challenger against the champion, if
    they would: a full restart's fold models learn from (k-1)/k of its training annotations,
    and fewer than the champion had would lose to it for want of labels. Fold models of a
    warm start begin from the champion's weights and learn more."""
    if plan.mode == WARM and plan.from_version == champion:
        return None
    fold_size, had = train_size * (folds - 1) // folds, len(previous.task_ids)
    if fold_size >= had:
        return None
    return (
        f"the tasks annotated since it are not scored out of fold: its fold models would "
        f"learn from {counted(fold_size, 'annotation')}, fewer than the {had} the current "
        "version trained on"
    )


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Gap:
    """How far the challenger's annotations are from a superset of the champion's."""

    reason: str | None  # None: a superset
    share: float = 0.0  # the champion's training annotations changed or removed
    other_start: bool = False  # warm-started from another version than the champion

    def corrections(self, share: float) -> bool:
        """Few enough changes to be annotators correcting labels, as review does (beyond,
        they are relabelling, and the challenger must show it is at least as good)."""
        return self.reason is not None and not self.other_start and self.share <= share


def superset_gap(
    champion: str, previous: ControlRecord, plan: StartPlan, now: Mapping[int, str]
) -> Gap:
    """How the challenger is not on a superset of the champion's annotations, if it is not:
    annotations it trained on were removed or relabelled, or the run warm-started from
    another version. Records made before targets were kept can only tell removals."""
    removed = [t for t in previous.task_ids if t not in now]
    changed = [
        t
        for t in previous.task_ids
        if t in now and str(t) in previous.targets and previous.targets[str(t)] != now[t]
    ]
    gaps = []
    if changed:
        gaps.append(
            f"the labels of {counted(len(changed), 'task')} the current version trained on changed"
        )
    if removed:
        verb = "was" if len(removed) == 1 else "were"
        gaps.append(f"{counted(len(removed), 'annotation')} it trained on {verb} removed")
    other = plan.mode == WARM and plan.from_version != champion
    if other:
        gaps.append(f"it was warm-started from {plan.from_version}, not from {champion}")
    share = (len(changed) + len(removed)) / max(1, len(previous.task_ids))
    return Gap(" and ".join(gaps) or None, round(share, 4), other)


@dataclass(frozen=True)
class Comparison:
    """What the gate weighs for one control: both models' answers on the same tasks, and
    whether the challenger learnt from everything the champion learnt from."""

    difference: PairedDifference | None  # None: no task both can be fairly scored on
    not_superset: str | None = None  # why the challenger is not on a superset, if so
    corrections: str | None = None  # labels changed, but few enough to be corrections
    held_out: int = 0  # compared tasks from the held-out set
    cross_validated: int = 0  # compared tasks new since the champion, scored out of fold
    left_out: dict[str, int] = field(default_factory=dict)  # held-out tasks not compared, why
    changed: tuple[int, ...] = ()  # held-out tasks relabelled since the champion was judged
    champion_then: float | None = None  # the champion's score on its own held-out tasks,
    champion_now: float | None = None  # as it was recorded, and with today's labels
    no_out_of_fold: str | None = None  # why the new tasks were not compared, where wanted

    @property
    def relabelled(self) -> bool:
        """The champion's own yardstick moved under it: a sign of relabelling."""
        if self.champion_then is None or self.champion_now is None or not self.changed:
            return False
        return self.champion_now < self.champion_then - COLLAPSE

    @property
    def labels_moved(self) -> str | None:
        """What changed in the labels the champion trained on, corrections or more."""
        return self.not_superset or self.corrections
