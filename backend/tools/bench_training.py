"""`lsbert bench`'s figures around training: protocol latency with the worker idle and
while a job runs, and the time from START_TRAINING to the new version being served."""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from backend.clock import wait_until
from backend.tools.bench_serving import (
    BUSY_PROJECT,
    EVENTS_PROJECT,
    POLL,
    PREDICT_PROJECT,
    BenchError,
    check_answer,
)
from backend.tools.payloads import annotation_event, predict_body, setup_body, start_training, task
from backend.tools.serve_process import ServeProcess

EXTRA_ANNOTATIONS = 10  # annotations added between the first run and the warm one
WAITING = ("queued", "deferred")
JOB_CHECK_EVERY = 1.0  # seconds between looks at a job while waiting for its version
Progress = Callable[[str], None]


@dataclass
class Bench:
    """The server under test and what the requests to it are made of."""

    server: ServeProcess
    label_config: str
    text_field: str
    dev: list[str]
    train: list[tuple[str, list[dict]]]
    say: Progress
    job_timeout: float
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def tasks(self, texts: list[str]) -> list[dict]:
        return [task(text, next(self.ids), self.text_field) for text in texts]

    def predict(self, project: int, texts: list[str]) -> tuple[float, dict]:
        body = predict_body(project, self.tasks(texts), self.label_config)
        return self.server.timed_post("/predict", body)

    def annotate(self, project: int, row: tuple[str, list[dict]]) -> float:
        (body,) = self.tasks([row[0]])
        event = annotation_event(project, body, row[1], body["id"], label_config=self.label_config)
        return self.server.timed_post("/webhook", event)[0]

    def setup(self, project: int) -> str:
        answer = self.server.post("/setup", setup_body(project, self.label_config))
        return str(answer["model_version"])


def summarize(milliseconds: list[float]) -> dict:
    """n, p50, p95 (nearest rank) and max, in milliseconds."""
    if not milliseconds:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(milliseconds)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[math.ceil(0.95 * len(ordered)) - 1], 3),
        "max": round(ordered[-1], 3),
    }


def route_calls(bench: Bench) -> dict[str, Callable[[], float]]:
    """One timed request per route, in milliseconds; each call sends the next text."""
    texts, events = itertools.cycle(bench.dev), itertools.cycle(bench.train)
    ignored = {"action": "TASKS_CREATED", "project": {"id": PREDICT_PROJECT}}
    setup = setup_body(PREDICT_PROJECT, bench.label_config)
    server = bench.server
    return {
        "/predict 1 task": lambda: bench.predict(PREDICT_PROJECT, [next(texts)])[0],
        "/webhook ignored": lambda: server.timed_post("/webhook", ignored)[0],
        "/webhook annotation": lambda: bench.annotate(EVENTS_PROJECT, next(events)),
        "/setup": lambda: server.timed_post("/setup", setup)[0],
    }


def latency_rounds(
    bench: Bench, rounds: int, going: Callable[[], bool] = lambda: True
) -> dict[str, dict]:
    """Rounds of one request per route, interleaved, so idle and busy see the same mix."""
    calls = route_calls(bench)
    figures: dict[str, list[float]] = {route: [] for route in calls}
    for _ in range(rounds):
        if not going():
            break
        for route, call in calls.items():
            figures[route].append(call())
    return {route: summarize(milliseconds) for route, milliseconds in figures.items()}


def idle_latency(bench: Bench, rounds: int) -> dict[str, dict]:
    bench.say(f"latency with the worker idle: {rounds} rounds")
    return latency_rounds(bench, rounds)


def job_status(server: ServeProcess, job_id: str) -> dict:
    return server.get(f"/jobs/{job_id}")


def annotate(bench: Bench, project: int, rows: list[tuple[str, list[dict]]]) -> None:
    for row in rows:
        bench.annotate(project, row)


def busy_latency(bench: Bench, rounds: int, annotations: int) -> dict:
    """The same rounds while a training job on `annotations` runs, as many as fit in it;
    then the job is waited for, so later figures find the worker idle."""
    bench.say(f"latency while a job trains on {annotations} annotations: {rounds} rounds")
    server = bench.server
    annotate(bench, BUSY_PROJECT, bench.train[:annotations])
    pressed = time.perf_counter()
    job_id = server.post("/webhook", start_training(BUSY_PROJECT))["job_id"]
    wait_until(
        lambda: job_status(server, job_id)["status"] not in WAITING,
        bench.job_timeout,
        POLL / 4,
        f"training job {job_id} did not start",
        BenchError,
    )
    figures = latency_rounds(
        bench, rounds, lambda: job_status(server, job_id)["status"] == "running"
    )
    ended = wait_until(
        lambda: ended_job(server, job_id),
        bench.job_timeout,
        POLL,
        f"job {job_id} did not end",
        BenchError,
    )
    if ended["status"] != "finished":
        raise BenchError(f"training job {job_id} {ended['status']}: {ended.get('error')}")
    return {
        "annotations": annotations,
        "job_seconds": round(time.perf_counter() - pressed, 2),
        "complete": all(f["n"] == rounds for f in figures.values()),
        "routes": figures,
    }


def ended_job(server: ServeProcess, job_id: str) -> dict | None:
    job = job_status(server, job_id)
    return job if job["status"] in ("finished", "failed", "canceled") else None


def check_job(server: ServeProcess, job_id: str) -> None:
    """Fails fast where a job ended without publishing: no version would ever come."""
    job = ended_job(server, job_id)
    if job is not None and (job["status"] != "finished" or job.get("outcome") != "published"):
        why = job.get("error") or job.get("detail") or job.get("outcome")
        raise BenchError(f"training job {job_id} {job['status']} without a new version: {why}")


def time_to_version(bench: Bench, project: int, body: dict, run: str, annotations: int) -> dict:
    """Seconds from posting `body` to /setup answering with a new version, then the first
    /predict on it (which may wait for the web process to load it)."""
    server = bench.server
    before = bench.setup(project)
    pressed = looked = time.perf_counter()
    job_id = server.post("/webhook", body)["job_id"]
    while (version := bench.setup(project)) == before:
        now = time.perf_counter()
        if now - pressed > bench.job_timeout:
            raise BenchError(f"no new version of project {project} after {now - pressed:.0f} s")
        if now - looked >= JOB_CHECK_EVERY:
            looked = now
            check_job(server, job_id)
        time.sleep(POLL)
    seconds = time.perf_counter() - pressed
    milliseconds, answer = bench.predict(project, bench.dev[:1])
    check_answer(answer, version, 1)
    return {
        "run": run,
        "annotations": annotations,
        "seconds": round(seconds, 2),
        "first_predict_ms": round(milliseconds, 1),
        "version": version,
        "job_id": job_id,
    }


def training_runs(bench: Bench, project: int, annotations: int) -> dict:
    """The first run (full, from the base model), a warm run after EXTRA_ANNOTATIONS more,
    and a full retrain on request of the same annotations as the warm run."""
    rows = bench.train[: annotations + EXTRA_ANNOTATIONS]
    total = len(rows)
    bench.say(f"START_TRAINING to a new version: {annotations}, then {total} annotations")
    annotate(bench, project, rows[:annotations])
    runs = [time_to_version(bench, project, start_training(project), "first", annotations)]
    annotate(bench, project, rows[annotations:])
    runs.append(time_to_version(bench, project, start_training(project), "warm", total))
    full = start_training(project, full=True)
    runs.append(time_to_version(bench, project, full, "full_retrain", total))
    versions = bench.server.get(f"/versions?project={project}")["details"]
    details = {detail["version"]: detail for detail in versions}
    for run in runs:
        detail = details[run["version"]]
        run["start"] = detail["controls"][0]["start"]
        run["worker_seconds"] = detail["training_seconds"]
    return {"project": project, "annotations": annotations, "runs": runs}
