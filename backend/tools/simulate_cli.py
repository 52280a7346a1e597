"""`lsbert simulate`: replay a labelled data set through training, round by round."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from backend.errors import ConfigError, LabelStudioError
from backend.settings import Settings
from backend.tools.corruption import Poison
from backend.tools.datasets import FORMATS, DatasetError, load_dataset
from backend.tools.learning_curve import (
    PlottingUnavailable,
    draw_learning_curve,
    require_matplotlib,
)
from backend.tools.replay import ORDERINGS, SimulationError
from backend.tools.simulate import simulate
from backend.tools.summary import format_curves, format_gate, quality_lines
from model.errors import ModelError

DESCRIPTION = (
    "Replay a labelled data set through the real training code, as if annotators labelled "
    "it in rounds: each round adds tasks up to the next size, trains every control with the "
    "settings of the environment (warm start and gate included), and scores it on an "
    "evaluation set no round trains on. Writes simulation.json and learning_curve.png to "
    "--out and prints a table. Without --eval, 20% of --data is held out for evaluation."
)


def outcome(row: dict) -> str:
    if row.get("skipped"):
        return "skipped"
    return "accepted" if row["accepted"] else "rejected"


def figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def challenger_figure(row: dict) -> str:
    return figure((row.get("challenger") or {}).get("value"))


# served: the evaluation score of the version serving after the round; new: of the
# version the round trained, whether the gate let it serve or not
COLUMNS = ("ordering", "seed", "labels", "control", "metric", "served", "new", "seconds", "start")


def format_table(result: dict) -> str:
    """One line per round and control: ordering, seed, labels, metric, the served and the
    new version's scores, seconds, start, decision."""
    lines = [[*COLUMNS, "decision"]]
    for row in result["rounds"]:
        seconds = f"{row['seconds']:.1f}" if "seconds" in row else "-"
        cells = [row["ordering"], row["seed"], row["labels"], row["control"]]
        cells += [row["metric"] or "-", figure(row["value"]), challenger_figure(row), seconds]
        cells += [row["start"]["mode"], outcome(row)]
        lines.append([str(cell) for cell in cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if cell[:1].isdigit() else cell.ljust(w)
            for cell, w in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def progress_line(row: dict) -> str:
    if row.get("skipped"):
        scored = row["skipped"]
    else:
        scored = f"{row['metric']} {challenger_figure(row)} new, {figure(row['value'])} served"
    took = f", {row['seconds']:.1f} s training" if "seconds" in row else ""
    wrong = f" ({row['poisoned']} with a wrong label)" if row.get("poisoned") else ""
    return (
        f"{row['ordering']} seed {row['seed']} round {row['round']}: {row['labels']} labels"
        f"{wrong}, {row['control']} {scored}{took}, {row['start']['mode']} start, {outcome(row)}"
    )


def print_progress(row: dict) -> None:
    print(progress_line(row), file=sys.stderr, flush=True)


def number_list(text: str, smallest: int) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < smallest:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers from {smallest}, "
            "e.g. 25,50,100"
        )
    return values


def sizes(text: str) -> list[int]:
    """`25,50,100`, ranges `10:500:10` (from 10 to 500 by 10) among them."""
    found: list[int] = []
    try:
        for part in text.split(","):
            if part.count(":") == 2:
                start, stop, step = number_list(part.replace(":", ","), 1)
                found += list(range(start, stop + 1, step))
            elif part.strip():
                found += number_list(part, 1)
    except argparse.ArgumentTypeError:
        found = []
    if not found:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers from 1 or ranges "
            "START:STOP:STEP, e.g. 25,50,100 or 10:500:10"
        )
    return found


def poisons(text: str) -> list[Poison]:
    """`ROUND:SHARE[:ROUNDS]`, comma-separated: e.g. `3:0.3` (round 3, 30 %, that round)."""
    found = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        fields = part.split(":")
        try:
            first, share = int(fields[0]), float(fields[1])
            rounds = int(fields[2]) if len(fields) == 3 else 1
        except (IndexError, ValueError):
            first, share, rounds = 0, -1.0, -1
        if len(fields) > 3 or first < 1 or not 0 < share <= 1 or rounds < 0:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not ROUND:SHARE[:ROUNDS]: write e.g. 3:0.3 for 30 %% wrong "
                "labels in round 3, or 2:0.5:0 for half of them wrong from round 2 on"
            )
        found.append(Poison(first, share, rounds))
    return found


def seeds(text: str) -> list[int]:
    return number_list(text, 0)


def orderings(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen or any(part not in ORDERINGS for part in chosen):
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose from {', '.join(ORDERINGS)}, comma-separated"
        )
    return list(dict.fromkeys(chosen))


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate",
        help="replay a labelled data set through training and draw its learning curve",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--data", type=Path, required=True, metavar="FILE", help="the labelled data file"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="ls-export (Label Studio JSON export), sst2 (sentence<TAB>0|1) or conll "
        "(CoNLL-2003); default: guessed from the file name (.json, .tsv, eng.train...)",
    )
    parser.add_argument(
        "--label-config",
        type=Path,
        metavar="XML",
        help="label config XML of the data; required for ls-export (default for sst2 and "
        "conll: label_config/text_classification.xml and named_entities.xml)",
    )
    parser.add_argument(
        "--eval",
        type=Path,
        metavar="FILE",
        help="evaluation file in the same format, e.g. the dev split (default: hold out 20%% "
        "of --data)",
    )
    parser.add_argument(
        "--sizes",
        type=sizes,
        metavar="N,N,...",
        default="25,50,100,200,500,1000",
        help="annotated tasks after each round, ranges START:STOP:STEP allowed; sizes above "
        "the data are dropped (default: 25,50,100,200,500,1000)",
    )
    parser.add_argument(
        "--order",
        type=orderings,
        metavar="ORDER,...",
        default="random,uncertain",
        help="random (seeded shuffle), uncertain (least confident first under the serving "
        "model) and/or label-studio (the tasks a Label Studio at LABEL_STUDIO_URL serves "
        "under uncertainty sampling, on the predictions pushed to it); the first round is "
        "random (default: random,uncertain)",
    )
    parser.add_argument(
        "--pool",
        type=int,
        metavar="N",
        help="annotate from a seeded sample of N tasks of --data (the same for every "
        "ordering of a seed) instead of all of them",
    )
    parser.add_argument(
        "--seeds", type=seeds, default="0,1,2", metavar="N,N,...", help="default: 0,1,2"
    )
    parser.add_argument(
        "--unlabelled",
        type=Path,
        metavar="FILE",
        help="tasks the project has not annotated, in the format of --data (their labels are "
        "never read), for SEMI_SUPERVISED runs (default: the tasks of --data not annotated "
        "yet in the round)",
    )
    parser.add_argument(
        "--poison",
        type=poisons,
        default=[],
        metavar="ROUND:SHARE[:ROUNDS],...",
        help="give a SHARE of the tasks annotated by round ROUND a wrong label (held-out "
        "ones too), for ROUNDS rounds (default 1; 0: from then on), to see what the gate "
        "serves; a size repeated in --sizes is a round of relabels without new tasks",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FOLDER",
        default=Path("simulation"),
        help="folder for simulation.json and learning_curve.png (default: ./simulation)",
    )
    parser.add_argument(
        "--base-model", metavar="MODEL", help="default: the BASE_MODEL setting (bundled)"
    )
    return parser


def run_simulate(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run the simulation the options ask for; a one-line error where they cannot work."""
    try:
        return simulate_and_write(args, settings or Settings.from_env())
    except (
        ConfigError,
        DatasetError,
        SimulationError,
        PlottingUnavailable,
        LabelStudioError,
    ) as error:
        message = str(error)
    except (ModelError, OSError) as error:  # a base model that cannot load, an unwritable --out
        message = f"{type(error).__name__}: {error}"
    sys.stderr.write(f"lsbert simulate: {' '.join(message.split())}\n")
    return 2


def simulate_and_write(args: argparse.Namespace, settings: Settings) -> int:
    from model.runtime import configure_threads

    require_matplotlib()
    data = load_dataset(args.data, args.format, args.label_config)
    evaluation = load_dataset(args.eval, data.format, args.label_config) if args.eval else None
    unlabelled = (
        load_dataset(args.unlabelled, data.format, args.label_config) if args.unlabelled else None
    )
    args.out.mkdir(parents=True, exist_ok=True)  # before hours of training, not after
    configure_threads(settings.worker_torch_threads)
    result = simulate(
        data.tasks,
        data.label_config,
        args.sizes,
        args.order,
        args.seeds,
        args.base_model or settings.base_model,
        settings,
        evaluation.tasks if evaluation else None,
        print_progress,
        args.poison,
        unlabelled.tasks if unlabelled else None,
        args.pool,
    )
    result["data"] = {"path": str(args.data), "format": data.format, "tasks": len(data.tasks)}
    if evaluation is not None:
        result["evaluation"]["path"] = str(args.eval)
    (args.out / "simulation.json").write_text(json.dumps(result, indent=2) + "\n")
    draw_learning_curve(result, args.out / "learning_curve.png")
    print(format_table(result))
    print(format_gate(result))
    print(format_curves(result))
    if result.get("poisons"):
        print(quality_lines(result["rounds"]))
    sys.stderr.write(
        f"wrote {args.out / 'simulation.json'} and {args.out / 'learning_curve.png'}\n"
    )
    return 0
