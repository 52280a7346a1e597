"""`lsbert bench`: every figure measured, beside its reference, and recorded; on the tiny
BERT with tiny counts. Content only: timings on a shared machine prove nothing."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from backend.settings import Settings
from backend.tools.bench import request_plan, throughput_rows
from backend.tools.bench_cli import add_bench_parser, format_report, memory_line, run_bench
from backend.tools.bench_serving import PSUTIL_MISSING
from backend.tools.bench_training import summarize
from model.int8_export import MIN_SAME_LABELS, MIN_SPEEDUP
from tests.texts import SHARED_DATA, sst2

ROUTES = ["/predict 1 task", "/webhook ignored", "/webhook annotation", "/setup"]


def bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lsbert")
    add_bench_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


@pytest.fixture
def tiny_settings(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # the server reads the environment, as `lsbert serve` does: set it, not only Settings
    for name, value in {
        "BASE_MODEL": str(tiny_model),
        "TRAIN_EPOCHS": "4",
        "TRAIN_LEARNING_RATE": "0.003",
        "WEB_TORCH_THREADS": "1",
        "WORKER_TORCH_THREADS": "1",
        "DEVICE": "cpu",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def check_latency(figures: dict) -> None:
    assert list(figures) == ROUTES
    for route in ROUTES:
        if figures[route]["n"]:
            assert 0 < figures[route]["p50"] <= figures[route]["p95"] <= figures[route]["max"]


def test_bench_measures_serving_and_training_beside_references(
    tiny_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sst2("dev")  # skips, saying why, without the shared data
    out = tmp_path / "figures" / "bench.json"
    args = bench_args(
        "--requests", "3", "--batches", "1,4", "--annotations", "24", "--busy-annotations",
        "24", "--data", str(SHARED_DATA / "sst2"), "--out", str(out),
    )  # fmt: skip
    assert run_bench(args, tiny_settings) == 0
    result = json.loads(out.read_text())

    assert result["machine"]["cores"] == os.cpu_count()
    assert result["machine"]["torch"] == torch.__version__
    assert result["machine"]["torch_threads"] == {"bench": 1, "web": 1, "worker": 1}
    assert result["model"]["base_model"] == str(tiny_settings.base_model)
    assert result["model"]["parameters"] > 0
    # the served model went through a worker's int8 export and check, on 256 dev texts; the
    # tiny probe's probabilities sit near 0.5, so whether int8 kept its labels is recorded,
    # not assumed (tests/test_int8.py and the MiniLM e2e scenario assert int8 serving)
    inference = result["inference"]
    assert inference["checked_texts"] == 256 and 0 <= inference["max_probability_difference"] <= 1
    # int8 is kept only if it chose torch's labels often enough and was faster
    kept = inference["same_labels"] >= MIN_SAME_LABELS and inference["speedup"] >= MIN_SPEEDUP
    assert inference["runtime"] == ("onnx-int8" if kept else "torch")
    assert kept or inference["reason"]

    assert [row["batch"] for row in result["throughput"]] == [1, 4]
    for row in result["throughput"]:
        assert row["requests"] == 3 and row["tasks"] == 3 * row["batch"]
        ours = row["ours_tasks_per_s"]
        for reference in ("baseline", "ceiling", "fp32_forward"):
            rate = row[f"{reference}_tasks_per_s"]
            assert ours > 0 and rate > 0
            assert row[f"ours_vs_{reference}"] == pytest.approx(ours / rate, abs=1e-3)

    idle, busy = result["latency"]["idle"], result["latency"]["training"]
    check_latency(idle)
    assert all(idle[route]["n"] == 3 for route in ROUTES)
    # the tiny job may end before a round fits in it: what was measured is recorded
    check_latency(busy["routes"])
    assert busy["annotations"] == 24 and busy["job_seconds"] > 0
    assert isinstance(busy["complete"], bool)

    (training,) = result["training"]
    runs = training["runs"]
    assert [r["run"] for r in runs] == ["first", "warm", "full_retrain"]
    assert [r["start"] for r in runs] == ["full", "warm", "full"]
    assert [r["annotations"] for r in runs] == [24, 34, 34]
    assert len({r["version"] for r in runs}) == 3
    assert all(r["seconds"] > 0 and r["worker_seconds"] > 0 for r in runs)
    assert all(r["first_predict_ms"] > 0 for r in runs)

    memory = result["memory"]
    assert memory["available"] and memory["samples"] > 0
    assert memory["peak_rss_mib"]["web"] > 0 and memory["peak_rss_mib"]["worker"] > 0

    printed = capsys.readouterr().out
    assert printed.strip() == format_report(result)
    assert f"in the served runtime ({inference['runtime']})" in printed
    for heading in ("/predict throughput", "latency, ms", "START_TRAINING", "peak RSS"):
        assert heading in printed


def test_figures_are_summarised_and_compared_as_documented() -> None:
    figures = summarize([float(ms) for ms in range(100, 0, -1)])
    assert figures == {"n": 100, "p50": 50.5, "p95": 95.0, "max": 100.0}
    assert summarize([]) == {"n": 0, "p50": None, "p95": None, "max": None}
    plan = request_plan(["a", "b", "c"], [1, 2, 500], most=4)
    assert [len(plan[b]) for b in (1, 2, 500)] == [4, 4, 2]
    assert plan[2][1] == ["c", "a"] and len(plan[500][1]) == 500
    references = {2: {"baseline": 4.0, "ceiling": 0.25, "fp32_forward": 1.0}}
    (row,) = throughput_rows({2: [["a", "b"], ["c", "a"]]}, {2: 0.5}, references)
    rates = [row[f"{name}_tasks_per_s"] for name in ("ours", "baseline", "ceiling", "fp32_forward")]
    assert rates == [8.0, 1.0, 16.0, 4.0]
    assert (row["ours_vs_baseline"], row["ours_vs_ceiling"], row["ours_vs_fp32_forward"]) == (
        8.0,
        0.5,
        2.0,
    )
    unmeasured = memory_line({"available": False, "note": PSUTIL_MISSING})
    assert "not measured" in unmeasured and "pip install psutil" in unmeasured


def test_options_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for wrong in (["--batches", "0,32"], ["--annotations", "5"], ["--requests", "x"]):
        with pytest.raises(SystemExit):
            bench_args(*wrong)
    args = bench_args("--data", str(tmp_path), "--out", str(tmp_path / "bench.json"))
    assert run_bench(args, Settings()) == 2
    error = capsys.readouterr().err
    assert "no SST-2 train.tsv and dev.tsv" in error and "--data" in error
    assert not (tmp_path / "bench.json").exists()
