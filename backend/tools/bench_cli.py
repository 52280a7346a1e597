"""`lsbert bench`: the speed benchmark; a table on stdout, every figure in a JSON file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from backend.errors import ConfigError
from backend.settings import Settings
from backend.tools.simulate_cli import number_list

DESCRIPTION = (
    "Measure how fast the backend serves and trains, on SST-2 sentences, each figure beside "
    "a reference taken in the same run: /predict throughput over HTTP against the Label "
    "Studio BERT example's way (a transformers pipeline built per request, texts one by "
    "one) and against our bare forward pass; /predict, /webhook and /setup latency, idle "
    "and while a training job runs; the time from START_TRAINING to the new version served, "
    "full and warm; peak memory of the web and worker processes. Starts its own "
    "`lsbert serve` on a temporary store and port. Takes about 9 minutes on 2 CPU cores "
    "with the defaults, 1 or 2 with --skip-training."
)
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2"


def progress(message: str) -> None:
    print(f"lsbert bench: {message}", file=sys.stderr, flush=True)


def counts(smallest: int):  # type: ignore[no-untyped-def]
    return lambda text: number_list(text, smallest)


def whole(smallest: int):  # type: ignore[no-untyped-def]
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < smallest:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {smallest}")
        return int(text)

    return parse


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="measure throughput, latency, training time and memory against baselines",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--requests",
        type=whole(1),
        default=100,
        metavar="N",
        help="requests per latency figure, and at most per throughput batch size (default: 100)",
    )
    parser.add_argument(
        "--batches",
        type=counts(1),
        default="1,32,500",
        metavar="N,N,...",
        help="tasks per /predict request, one throughput row each (default: 1,32,500)",
    )
    parser.add_argument(
        "--annotations",
        type=counts(10),
        default="100,500",
        metavar="N,N,...",
        help="annotations of each timed training (a first run, then a warm and a full run "
        "on 10 more); --annotations 100 saves about 5 minutes on 2 CPU cores "
        "(default: 100,500)",
    )
    parser.add_argument(
        "--busy-annotations",
        type=whole(10),
        default=200,
        metavar="N",
        help="annotations of the job that trains while latency is measured (default: 200)",
    )
    parser.add_argument(
        "--skip-training",
        action="store_true",
        help="throughput and idle latency only: no training job, no training times",
    )
    parser.add_argument(
        "--base-model", metavar="MODEL", help="default: the BASE_MODEL setting (bundled)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        default=DEFAULT_DATA,
        help="folder with SST-2's train.tsv and dev.tsv, sentence<TAB>0|1 per line "
        "(default: ../shared/data/sst2 beside the repository)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        default=Path("bench.json"),
        help="where to write every figure as JSON (default: ./bench.json)",
    )
    return parser


def run_bench(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run the benchmark the options ask for; a one-line error where it cannot run."""
    import requests

    from backend.tools.datasets import DatasetError
    from backend.tools.serve_process import ServeError
    from model.errors import ModelError

    try:
        return bench_and_write(args, settings or Settings.from_env())
    except (ServeError, ConfigError, DatasetError) as error:
        message = str(error)
    except (ModelError, OSError, requests.RequestException) as error:
        message = f"{type(error).__name__}: {error}"
    sys.stderr.write(f"lsbert bench: {message}\n")
    return 2


def bench_and_write(args: argparse.Namespace, settings: Settings) -> int:
    from backend.tools.bench import BenchOptions, run_benchmark
    from backend.tools.bench_serving import BenchError

    missing = [name for name in ("train.tsv", "dev.tsv") if not (args.data / name).is_file()]
    if missing:
        raise BenchError(
            f"no SST-2 {' and '.join(missing)} in {args.data}: give --data with a folder "
            "holding train.tsv and dev.tsv (sentence<TAB>0|1 per line)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)  # before minutes of measuring
    options = BenchOptions(
        data=args.data,
        base_model=args.base_model or settings.base_model,
        requests=args.requests,
        batches=args.batches,
        annotations=args.annotations,
        busy_annotations=args.busy_annotations,
        skip_training=args.skip_training,
    )
    result = run_benchmark(options, settings, progress)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_report(result))
    progress(f"wrote {args.out}")
    return 0


def aligned(lines: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell: numbers to the right, words to the left."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(
            cell.rjust(w) if cell[:1].isdigit() or cell[:1] == "-" else cell.ljust(w)
            for cell, w in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    ]


def number(value: float | None, unit: str = "") -> str:
    """Three significant figures or so: enough to compare, few enough to read."""
    if value is None:
        return "-"
    decimals = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{decimals}f}{unit}"


def size(parameters: int) -> str:
    return f"{parameters / 1e6:.1f} M" if parameters >= 100_000 else f"{parameters:,}"


def format_report(result: dict) -> str:
    parts = [headline(result), throughput_table(result), latency_table(result)]
    if "training" in result:
        parts.append(training_table(result))
    parts.append(memory_line(result["memory"]))
    return "\n\n".join(parts)


def headline(result: dict) -> str:
    machine, model = result["machine"], result["model"]
    threads = machine["torch_threads"]
    return (
        f"lsbert bench: {model['base_model']} ({size(model['parameters'])} parameters) "
        f"on {machine['device']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"threads web {threads['web']} / worker {threads['worker']} / bench "
        f"{threads['bench']}; {result['seconds']:.0f} s"
    )


def throughput_table(result: dict) -> str:
    columns = ("ours", "baseline", "ceiling", "fp32_forward")
    lines = [["batch", "requests", "tasks", "ours", "baseline", "ceiling", "fp32 forward"]]
    lines[0] += ["ours/baseline", "ours/ceiling", "ours/fp32"]
    for row in result["throughput"]:
        lines.append([str(row[key]) for key in ("batch", "requests", "tasks")])
        lines[-1] += [number(row[f"{name}_tasks_per_s"]) for name in columns]
        lines[-1] += [number(row[f"ours_vs_{name}"], "x") for name in columns[1:]]
    inference = result["inference"]
    title = (
        "/predict throughput, tasks/s over HTTP. baseline: a transformers pipeline built per "
        "request, texts one by one (the Label Studio BERT example); ceiling: our forward "
        f"pass alone in the served runtime ({inference['runtime']}), length-sorted batches "
        "of 32; fp32 forward: the same in torch fp32"
    )
    if "same_labels" in inference:
        title += (
            f"\nint8 export checked on {inference['checked_texts']} dev texts: same labels as "
            f"torch on {inference['same_labels']:.1%}, probabilities within "
            f"{inference['max_probability_difference']:.3f}"
        )
    return "\n".join([title, *aligned(lines)])


def latency_table(result: dict) -> str:
    idle, busy = result["latency"]["idle"], result["latency"].get("training")
    lines = [["latency, ms", "n", "idle p50", "p95", "max"]]
    if busy:
        lines[0] += ["n", "training p50", "p95", "max", "p50 ratio"]
    for route, figures in idle.items():
        line = [route, str(figures["n"])] + [number(figures[k]) for k in ("p50", "p95", "max")]
        if busy:
            loaded = busy["routes"][route]
            line += [str(loaded["n"])] + [number(loaded[k]) for k in ("p50", "p95", "max")]
            ratio = loaded["p50"] / figures["p50"] if loaded["p50"] and figures["p50"] else None
            line.append(number(ratio, "x"))
        lines.append(line)
    text = "\n".join(aligned(lines))
    if busy:
        complete = "all rounds" if busy["complete"] else "the rounds that fit in the job"
        text += (
            f"\n(training: a job on {busy['annotations']} annotations, {busy['job_seconds']:.0f}"
            f" s from START_TRAINING to its end; measured over {complete})"
        )
    return text


def training_table(result: dict) -> str:
    lines = [["annotations", "run", "start", "seconds", "in worker", "first /predict ms"]]
    for training in result["training"]:
        for run in training["runs"]:
            cells = [str(run["annotations"]), run["run"], run["start"], number(run["seconds"])]
            lines.append([*cells, number(run["worker_seconds"]), number(run["first_predict_ms"])])
    return "\n".join(["START_TRAINING -> new version served (/setup answers it)", *aligned(lines)])


def memory_line(memory: dict) -> str:
    if not memory["available"]:
        return f"peak RSS: not measured, {memory['note']}"
    peaks = memory["peak_rss_mib"]
    main = [f"{role} {peaks[role]:.0f}" for role in ("web", "worker") if role in peaks]
    rest = [f"{role} {mib:.0f}" for role, mib in peaks.items() if role not in ("web", "worker")]
    return f"peak RSS, MiB: {', '.join(main)} ({', '.join(rest)}; {memory['samples']} samples)"
