"""Agreement between annotators, on tasks that several annotators answered (each
annotator's newest annotation of the task counts once).

- `<Choices>`: pairwise agreement (the share of pairs of annotators of a task who gave the
  same answer), per label the specific agreement (2 x pairs that both chose it, over pairs
  where either did), and for single choice Fleiss' kappa in its form for a varying number
  of annotators per task (agreement beyond what the labels' frequencies give by chance).
- `<Labels>`: pairwise entity F1 (2 x entities both marked, boundaries and label exact,
  over all entities each marked), overall and per label.
Per annotator, the same over the pairs they are in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from backend.label_config import CHOICES, Control
from backend.quality.agreement import label_of, share
from backend.quality.records import Annotated, Answer

Pair = tuple[str, Answer, str, Answer]  # annotator, answer, other annotator, their answer


def answers_by_task(rows: list[Annotated], control: Control) -> dict[int, dict[str, Answer]]:
    """Per task, each annotator's newest answer (rows come oldest first per task)."""
    found: dict[int, dict[str, Answer]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r.task, r.annotation)):
        if row.control == control.name:
            found[row.task][row.annotator] = row.answer
    return {task: answers for task, answers in found.items() if len(answers) > 1}


def task_pairs(answers: dict[str, Answer]) -> list[Pair]:
    return [(a, answers[a], b, answers[b]) for a, b in combinations(sorted(answers), 2)]


def fleiss_kappa(tasks: list[dict[str, Answer]], labels: list[str]) -> float | None:
    """Fleiss' kappa with n_i annotators on task i: observed agreement, the mean over tasks
    of sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), against chance, sum_j p_j^2 with p_j the
    share of all answers that are j. None where chance agreement is perfect (one label)."""
    if not tasks:
        return None
    observed: list[float] = []
    totals: Counter[str] = Counter()
    for answers in tasks:
        counts = Counter(next(iter(a)) for a in answers.values() if len(a) == 1)
        n = sum(counts.values())
        if n < 2:
            continue
        observed.append(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))
        totals.update(counts)
    answered = sum(totals.values())
    if not observed or not answered:
        return None
    chance = sum((totals[j] / answered) ** 2 for j in set(labels) | set(totals))
    if chance >= 1:
        return None
    return round((sum(observed) / len(observed) - chance) / (1 - chance), 4)


def specific(both: int, either: int, min_count: int) -> float | None:
    """2 x pairs that both chose a label, over the choices of it in all pairs (each pair
    where one chose it counts one, where both did, two)."""
    return round(2 * both / (either + both), 4) if either >= min_count and either else None


def choice_figures(pairs: list[Pair], labels: list[str], min_count: int) -> dict:
    same = sum(a == b for _, a, _, b in pairs)
    both: Counter[str] = Counter()
    either: Counter[str] = Counter()
    for _, a, _, b in pairs:
        both.update(a & b)
        either.update(a | b)
    names = [*labels, *sorted(set(either) - set(labels))]
    return {
        "pairs": len(pairs),
        "agreement": share(same, len(pairs), min_count),
        "per_label": {
            name: {
                "pairs": either[name],
                "specific_agreement": specific(both[name], either[name], min_count),
            }
            for name in names
            if either[name]
        },
    }


def span_figures(pairs: list[Pair], labels: list[str], min_count: int) -> dict:
    common: Counter[str] = Counter()
    marked: Counter[str] = Counter()
    for _, a, _, b in pairs:
        common.update(label_of(key) for key in a & b)
        marked.update(label_of(key) for key in a)
        marked.update(label_of(key) for key in b)
    names = [*labels, *sorted(set(marked) - set(labels))]
    total = sum(marked.values())
    return {
        "pairs": len(pairs),
        "entities": total,
        "entity_f1": share(2 * sum(common.values()), total, min_count),
        "per_label": {
            name: {
                "entities": marked[name],
                "entity_f1": share(2 * common[name], marked[name], min_count),
            }
            for name in names
            if marked[name]
        },
    }


def between_annotators(rows: list[Annotated], control: Control, min_count: int) -> dict:
    """Inter-annotator agreement of one control, overall and per annotator."""
    tasks = answers_by_task(rows, control)
    pairs = [pair for answers in tasks.values() for pair in task_pairs(answers)]
    labels = list(control.labels)
    figures = choice_figures if control.kind == CHOICES else span_figures
    found = {"tasks": len(tasks), **figures(pairs, labels, min_count)}
    if control.kind == CHOICES:
        found["measure"] = "pairwise agreement, specific agreement per label"
        if not control.multi_label:
            found["fleiss_kappa"] = (
                fleiss_kappa(list(tasks.values()), labels) if len(tasks) >= min_count else None
            )
            found["measure"] += ", Fleiss' kappa"
    else:
        found["measure"] = "pairwise entity F1"
    annotators = sorted({name for p in pairs for name in (p[0], p[2])})
    found["annotators"] = {
        name: figures([p for p in pairs if name in (p[0], p[2])], labels, min_count)
        for name in annotators
    }
    return found
