"""`lsbert bench`: how fast the backend serves and trains, each figure beside a reference
measured in the same run, on SST-2 sentences.

1. /predict throughput over HTTP, per batch size, against the Label Studio BERT example's
   pipeline built per request (the baseline) and our bare forward pass (the ceiling).
2. Latency of /predict (one task), /webhook and /setup, idle and while a training job runs.
3. START_TRAINING to the new version served: the first run (full), a warm run after a few
   more annotations, and a full retrain on request of the same annotations.
4. Peak resident memory of the server's processes.

The server is a real `lsbert serve` (embedded Redis, webhook mode) on a temporary store;
its projects: 1 serves a classifier trained here, 2 trains while latency is measured,
3 receives the annotation events whose latency is measured, 10 and on are timed training.
"""

from __future__ import annotations

import math
import os
import platform
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backend.label_config import Control, parse_label_config
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.bench_models import (
    CONTROL_FOLDER,
    ceiling_seconds,
    pipeline_seconds,
    publish_classifier,
    quiet_transformers,
    save_pipeline_model,
    warm_up,
)
from backend.tools.bench_serving import (
    FIRST_TIMED_PROJECT,
    PREDICT_PROJECT,
    BenchError,
    MemorySampler,
    check_answer,
    server_env,
)
from backend.tools.bench_training import (
    EXTRA_ANNOTATIONS,
    Bench,
    Progress,
    busy_latency,
    idle_latency,
    training_runs,
)
from backend.tools.datasets import SST2, load_dataset
from backend.tools.serve_process import ServeError, ServeProcess

PROBE_EXAMPLES = 50  # SST-2 sentences the served classifier's head is fitted on
THROUGHPUT_TASKS = 500  # tasks per batch size, in at least two requests
CEILING_BATCH = 32
Plan = dict[int, list[list[str]]]  # batch size -> the texts of each request


@dataclass
class BenchOptions:
    data: Path  # a folder with SST-2's train.tsv and dev.tsv
    base_model: str
    requests: int = 100
    batches: list[int] = field(default_factory=lambda: [1, 32, 500])
    annotations: list[int] = field(default_factory=lambda: [100])
    busy_annotations: int = 200
    skip_training: bool = False


@dataclass
class Sst2:
    train: list[tuple[str, list[dict]]]  # annotated sentences: text, annotation result
    dev: list[str]  # sentences to predict
    label_config: str
    control: Control


def read_sst2(folder: Path) -> Sst2:
    """SST-2's training sentences with their annotations and its dev sentences, each
    shuffled with a fixed seed, so every run sends the same requests."""
    train = load_dataset(folder / "train.tsv", SST2)
    dev = load_dataset(folder / "dev.tsv", SST2)
    control = parse_label_config(train.label_config).controls[0]
    rows = [(t["data"][control.field], t["annotations"][0]["result"]) for t in train.tasks]
    texts = [t["data"][control.field] for t in dev.tasks]
    random.Random(1).shuffle(rows)
    random.Random(0).shuffle(texts)
    return Sst2(rows, texts, train.label_config, control)


def probe_examples(data: Sst2) -> list[tuple[str, str]]:
    return [
        (text, result[0]["value"]["choices"][0]) for text, result in data.train[:PROBE_EXAMPLES]
    ]


def request_plan(texts: list[str], batches: list[int], most: int) -> Plan:
    """Per batch size, consecutive slices of the texts, wrapping around: about
    THROUGHPUT_TASKS tasks, in at most `most` requests and at least two."""
    plan = {}
    for batch in batches:
        count = max(2, min(most, math.ceil(THROUGHPUT_TASKS / batch)))
        plan[batch] = [
            [texts[(i * batch + j) % len(texts)] for j in range(batch)] for i in range(count)
        ]
    return plan


def reference_seconds(
    plan: Plan, folders: tuple[Path, Path], max_length: int, device: str, runtime: str
) -> dict[int, dict[str, float]]:
    """Per batch size, seconds on its texts of: the pipeline baseline, the ceiling (our
    bare forward pass in the served runtime) and our bare forward pass in fp32 torch (the
    ceiling itself where torch serves)."""
    served, pipeline = folders
    figures = {}
    for batch, requests in plan.items():
        texts = [text for request in requests for text in request]
        ceiling = ceiling_seconds(served, texts, device, runtime, CEILING_BATCH)
        figures[batch] = {
            "baseline": pipeline_seconds(pipeline, requests, max_length, device),
            "ceiling": ceiling,
            "fp32_forward": ceiling
            if runtime == "torch"
            else ceiling_seconds(served, texts, device, "torch", CEILING_BATCH),
        }
    return figures


def served_seconds(bench: Bench, plan: Plan, version: str) -> dict[int, float]:
    """Per batch size: seconds of its /predict requests, answers included."""
    seconds = {}
    for batch, requests in plan.items():
        bench.say(f"/predict throughput: {len(requests)} requests of {batch} tasks")
        check_answer(bench.predict(PREDICT_PROJECT, requests[0])[1], version, batch)  # warm-up
        total = 0.0
        for texts in requests:
            milliseconds, answer = bench.predict(PREDICT_PROJECT, texts)
            check_answer(answer, version, len(texts))
            total += milliseconds / 1000
        seconds[batch] = total
    return seconds


def ratio(ours: float, reference: float) -> float | None:
    return round(ours / reference, 3) if reference else None


def throughput_rows(plan: Plan, ours: dict[int, float], references: dict) -> list[dict]:
    rows = []
    for batch, requests in plan.items():
        tasks = sum(len(r) for r in requests)
        mine = round(tasks / ours[batch], 2)
        rates = {name: round(tasks / seconds, 2) for name, seconds in references[batch].items()}
        rows.append(
            {
                "batch": batch,
                "requests": len(requests),
                "tasks": tasks,
                "ours_tasks_per_s": mine,
                **{f"{name}_tasks_per_s": rate for name, rate in rates.items()},
                **{f"ours_vs_{name}": ratio(mine, rate) for name, rate in rates.items()},
            }
        )
    return rows


def machine(settings: Settings, device: str) -> dict:
    import torch

    threads = {"bench": torch.get_num_threads(), "web": settings.web_torch_threads}
    return {
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": {**threads, "worker": settings.worker_torch_threads},
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def settings_record(settings: Settings) -> dict:
    names = (
        *("predict_batch_size", "train_epochs", "train_warm_epochs", "train_max_length"),
        *("holdout_share", "holdout_min_annotations", "web_workers", "web_threads"),
    )
    # the bench sets GATE_TOLERANCE=1: every run ends in a version it can time
    return {**{name: getattr(settings, name) for name in names}, "gate_tolerance": 1.0}


def check_options(options: BenchOptions, annotated: int) -> None:
    needs = [options.busy_annotations, *(n + EXTRA_ANNOTATIONS for n in options.annotations)]
    if not options.skip_training and max(needs) > annotated:
        raise BenchError(
            f"the training file has {annotated} sentences, the options need {max(needs)}"
        )


def run_benchmark(options: BenchOptions, settings: Settings, say: Progress) -> dict:
    """Every figure, as one JSON-ready dict."""
    from model.base_model import resolve_base_model
    from model.runtime import configure_threads, select_device

    started = time.perf_counter()
    configure_threads(settings.web_torch_threads)  # as many as the web process predicts with
    quiet_transformers()
    data = read_sst2(options.data)
    check_options(options, len(data.train))
    resolved = resolve_base_model(options.base_model)
    device = str(select_device(settings.device))
    plan = request_plan(data.dev, options.batches, options.requests)
    max_length = settings.train_max_length
    with tempfile.TemporaryDirectory(prefix="lsbert-bench-") as temporary:
        folder = Path(temporary)
        store = ModelStore(folder / "models")
        say(f"fitting the served classifier on {PROBE_EXAMPLES} sentences")
        check_texts = data.dev if settings.exports_int8 else None
        version, parameters, inference = publish_classifier(
            store, PREDICT_PROJECT, resolved, data.control, probe_examples(data), max_length,
            device, check_texts,
        )  # fmt: skip
        served = store.version_dir(PREDICT_PROJECT, version) / CONTROL_FOLDER
        pipeline = save_pipeline_model(resolved, data.control.labels, folder / "pipeline")
        inference = inference or {"runtime": "torch", "reason": "INFERENCE_RUNTIME=torch"}
        # what the server will run: torch too where the export was refused
        runtime = inference["runtime"]
        warm_up(
            served, pipeline, data.dev, max_length, device, list(dict.fromkeys((runtime, "torch")))
        )
        say("in-process: the baseline (a pipeline per request) and the ceiling (bare forward)")
        references = reference_seconds(plan, (served, pipeline), max_length, device, runtime)
        measured = measure_server(folder, options, settings, data, version, plan, say)
    return {
        "machine": machine(settings, device),
        "model": {"base_model": options.base_model, "path": resolved, "parameters": parameters},
        "inference": inference,
        "settings": settings_record(settings),
        "options": {**vars(options), "data": str(options.data)},
        "throughput": throughput_rows(plan, measured.pop("ours"), references),
        **measured,
        "seconds": round(time.perf_counter() - started, 1),
    }


def measure_server(
    folder: Path,
    options: BenchOptions,
    settings: Settings,
    data: Sst2,
    version: str,
    plan: Plan,
    say: Progress,
) -> dict:
    """The figures taken over HTTP, with the server's memory sampled all along."""
    say("starting lsbert serve")
    server = ServeProcess(server_env(folder, options.base_model, settings), folder / "serve.log")
    memory = MemorySampler(server.process.pid)
    bench = Bench(
        server, data.label_config, data.control.field, data.dev, data.train, say,
        settings.train_job_timeout + 60,
    )  # fmt: skip
    try:
        bench.setup(PREDICT_PROJECT)  # loads the served model, as Label Studio's /setup does
        check_answer(bench.predict(PREDICT_PROJECT, data.dev[:1])[1], version, 1)
        figures: dict = {"ours": served_seconds(bench, plan, version)}
        figures["latency"] = {"idle": idle_latency(bench, options.requests)}
        if not options.skip_training:
            figures["latency"]["training"] = busy_latency(
                bench, options.requests, options.busy_annotations
            )
            figures["training"] = [
                training_runs(bench, FIRST_TIMED_PROJECT + i, count)
                for i, count in enumerate(options.annotations)
            ]
    except ServeError as error:
        raise BenchError(f"{error}\nlsbert serve's log ends with:\n{server.log_tail()}") from None
    finally:
        figures_memory = memory.stop()
        server.stop()
    return {**figures, "memory": figures_memory}
