"""`lsbert simulate`: a labelled data set replayed as if annotators labelled it in rounds,
through the real training run (backend.training.run.train_version: held-out split, warm
start, the gate and pruning included), with every round's served version scored on an
evaluation set no round trains on. The learning curve a project would see, and what the
gate would decide on it.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from backend.clock import compact_stamp, utc_now
from backend.label_config import Control, parse_label_config
from backend.settings import Settings
from backend.tools.corruption import Poison
from backend.tools.replay import ORDERINGS, Replay, RoundCallback, SimulationError
from backend.tools.studio_order import LABEL_STUDIO, StudioOrder
from backend.tools.summary import gate_summary, mean_curves, reach_summary
from backend.training.examples import Examples, collect_examples, latest_annotation
from backend.training.holdout import is_held_out

EVAL_SHARE = 0.2  # of the input, held out when no evaluation file is given
# what shapes training and gating besides every train_* setting
SETTINGS_USED = (
    *("warm_start", "gate_tolerance", "device", "inference_runtime", "holdout_share"),
    *("holdout_min_annotations", "cross_validation_folds", "keep_versions", "semi_supervised"),
    *("gate_confidence", "gate_min_tasks", "gate_corrections_share", "unlabelled_pool_max"),
    *("pseudo_label_threshold", "pseudo_label_ratio", "pseudo_label_weight"),
)


def pool_of(pool: list[dict], size: int | None, seed: int) -> list[dict]:
    """The tasks a seed's replays annotate from: all, or a seeded sample of `size`, the same
    for every ordering of the seed."""
    if size is None or size >= len(pool):
        return pool
    return random.Random(f"pool:{seed}").sample(pool, size)


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
    kept = sorted(size for size in sizes if 0 < size <= pool)  # a repeat: a round of relabels
    if not kept:
        raise SimulationError(
            f"every size ({', '.join(map(str, sizes))}) is above the {pool} annotated tasks "
            "available for training: give smaller --sizes"
        )
    return kept


def strip(task: dict) -> dict:
    """A task as unlabelled: its data, no annotation."""
    return {"id": task["id"], "data": task["data"]}


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
    poisons: Sequence[Poison] = (),
    unlabelled: list[dict] | None = None,
    pool_size: int | None = None,
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
    if LABEL_STUDIO in orderings and not settings.api_configured:
        raise SimulationError(
            f"--order {LABEL_STUDIO} replays the order a Label Studio serves: set "
            "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to one (the replay creates a project "
            "per seed there)"
        )
    started = time.monotonic()
    controls = parse_label_config(label_config).controls
    full_pool, evaluation, source = split_evaluation(tasks, eval_tasks)
    kept = checked_sizes(sizes, min(len(full_pool), pool_size or len(full_pool)))
    evaluated = evaluation_examples(controls, evaluation)
    resolved = resolve_base_model(base_model)
    settings = replace(settings, base_model=base_model)
    rows: list[dict] = []
    projects: list[dict] = []  # the label-studio ordering's projects, and where time went
    with tempfile.TemporaryDirectory(prefix="lsbert-simulate-") as workdir:
        for seed in seeds:
            pool = pool_of(full_pool, pool_size, seed)
            for ordering in orderings:
                folder = Path(workdir) / f"{ordering}-{seed}"
                studio = None
                if ordering == LABEL_STUDIO:
                    title = f"lsbert simulate seed {seed} {compact_stamp()}"  # 50 at most
                    studio = StudioOrder(settings, label_config, pool, title)
                replay = Replay(
                    ordering, seed, label_config, evaluated, settings, folder, tuple(poisons),
                    [strip(task) for task in unlabelled] if unlabelled is not None else None,
                    studio,
                )  # fmt: skip
                rows += replay.run(pool, kept, on_round or (lambda row: None))
                if studio is not None:
                    seconds = {k: round(v, 1) for k, v in studio.seconds.items()}
                    projects.append({"seed": seed, "project": studio.project, "seconds": seconds})
    return {
        "format": "lsbert-simulation/2",
        "created_at": utc_now(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": str(select_device(settings.device)),
            "torch": torch.__version__,
        },
        "base_model": base_model_record(base_model, resolved),
        "settings": settings_used(settings),
        "controls": [{"name": c.name, "kind": c.kind, "labels": list(c.labels)} for c in controls],
        "pool": min(len(full_pool), pool_size or len(full_pool)),
        "evaluation": {"source": source, "examples": {n: len(e) for n, e in evaluated.items()}},
        "sizes": kept,
        "dropped_sizes": sorted({s for s in sizes if s not in kept}),
        "orderings": list(orderings),
        "seeds": list(seeds),
        "poisons": [asdict(poison) for poison in poisons],
        "unlabelled": "file" if unlabelled is not None else "the rest of the pool",
        "label_studio_projects": projects,
        "rounds": rows,
        "gate": gate_summary(rows),
        "curves": (curves := mean_curves(rows)),
        "reach": reach_summary(curves),
        "seconds": round(time.monotonic() - started, 1),
    }
