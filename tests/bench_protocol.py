"""Latency of the protocol routes, idle and while a training job runs, and the time from
START_TRAINING to a new version, on the bundled MiniLM. A benchmark, not a test:

    .venv/bin/python -m tests.bench_protocol [--annotations 100] [--requests 200]

It starts `lsbert serve` (embedded Redis, one web process, one worker) in webhook mode,
and prints one table; each figure under load is shown beside the same figure idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests
from redis import Redis
from rq import Queue
from rq.registry import StartedJobRegistry

from backend.embedded_redis import start_redis
from backend.training_queue import QUEUE_NAME
from tests.conftest import SENTIMENT_CONFIG, Serve, wait_for
from tests.payloads import annotation_webhook, predict_body, setup_body, task
from tests.texts import sample, sst2

PROJECT = 1


def timed(call, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds per call."""
    figures = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        figures.append((time.perf_counter() - started) * 1000)
    return figures


def summary(figures: list[float]) -> str:
    ordered = sorted(figures)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered):7.1f}  p95 {p95:7.1f}  max {ordered[-1]:7.1f} ms"


def measure(serve: Serve, count: int, texts: list[str]) -> dict[str, list[float]]:
    session = requests.Session()
    ignored = {"action": "TASKS_CREATED", "project": {"id": PROJECT}}
    one_task = predict_body(PROJECT, [task(texts[0])], SENTIMENT_CONFIG)
    return {
        "/health": timed(lambda: session.get(serve.url + "/health"), count),
        "/setup": timed(
            lambda: session.post(serve.url + "/setup", json=setup_body(PROJECT, SENTIMENT_CONFIG)),
            count,
        ),
        "/webhook": timed(lambda: session.post(serve.url + "/webhook", json=ignored), count),
        "/predict 1 task": timed(
            lambda: session.post(serve.url + "/predict", json=one_task), count // 4
        ),
    }


def current_version(serve: Serve) -> str:
    return serve.post("/setup", setup_body(PROJECT, SENTIMENT_CONFIG))["model_version"]


def training_idle(redis: Redis) -> bool:
    queue = Queue(QUEUE_NAME, connection=redis)
    started = StartedJobRegistry(QUEUE_NAME, connection=redis)
    return queue.count == 0 and not queue.deferred_job_registry.count and not started.count


def annotate(serve: Serve, rows: list[tuple[str, str]]) -> None:
    for text, label in rows:  # each annotation enqueues training, as in real use
        body = annotation_webhook(PROJECT, task(text), [label], label_config=SENTIMENT_CONFIG)
        serve.post("/webhook", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rows = sample(sst2("train"), args.annotations, seed=7)
    texts = [text for text, _ in rows]
    folder = Path(tempfile.mkdtemp(prefix="lsbert-bench-"))
    redis_process, redis_url = start_redis(folder / "redis")
    redis = Redis.from_url(redis_url)
    env = {"MODEL_DIR": str(folder / "models"), "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
    serve = Serve(env, folder / "serve.log")
    try:
        annotate(serve, rows)
        time.sleep(1)
        wait_for(lambda: training_idle(redis), 1800, 1, "training never settled")
        first = current_version(serve)
        idle = measure(serve, args.requests, texts)

        pressed = time.perf_counter()
        serve.post("/webhook", {"action": "START_TRAINING", "project": {"id": PROJECT}})
        busy = measure(serve, args.requests, texts)
        newer = wait_for(lambda: (v := current_version(serve)) != first and v, 900, 0.2)
        to_version = time.perf_counter() - pressed
    finally:
        serve.stop()
        redis_process.terminate()
    print(
        f"\nlsbert protocol latency, bundled MiniLM, {os.cpu_count()} cores, "
        f"{args.requests} requests per route ({args.requests // 4} for /predict)"
    )
    for route in idle:
        ratio = statistics.median(busy[route]) / statistics.median(idle[route])
        print(f"{route:16} idle:     {summary(idle[route])}")
        print(f"{'':16} training: {summary(busy[route])}  (p50 ratio {ratio:.2f}x)")
    print(
        f"START_TRAINING -> new version {newer} served: {to_version:.1f} s "
        f"({args.annotations} annotations, full retrain)"
    )


if __name__ == "__main__":
    main()
