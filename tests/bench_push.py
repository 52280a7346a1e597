"""Benchmarks of pushed predictions and interactive suggestions on a real Label Studio
1.23.2 and the bundled MiniLM, served int8: figures printed, nothing timed asserted.

Not collected by the suite (its name is not test_*.py); run it by name, once, on a quiet
machine (about 15 minutes on 2 cores; needs ../shared/data):

    pytest tests/bench_push.py -s -p no:logging

1. A 10,000-task SST-2 `<Choices>` project: from a version being served to every task
   holding its prediction in Label Studio, with the time spent reading tasks, predicting
   and storing; for the first version, and for a second one that also deletes the first's
   10,000 predictions once the project uses it.
2. `/predict` (one task) latency idle and while the second push runs.
3. Interactive span suggestions on 1,000-character texts: `/predict` with a drawn region,
   the first region of a text (the model runs) and the next ones (its token probabilities
   kept), and the same through Label Studio's interactive-annotating call.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from backend.tools.bench_training import summarize
from backend.tools.payloads import predict_body, task
from tests.conftest import REPO, SENTIMENT_CONFIG, Serve, wait_for
from tests.label_studio_server import LabelStudioClient, LabelStudioServer
from tests.studio_flow import sentiment
from tests.texts import conll, sample, sst2

TASKS = int(os.environ.get("BENCH_PUSH_TASKS", "10000"))  # fewer: a dry run of the bench
ANNOTATED = 100
NER_CONFIG = (REPO / "label_config" / "named_entities.xml").read_text()


def backend_env(server: LabelStudioServer, tmp_path: Path, **extra: str) -> dict:
    return {
        "LABEL_STUDIO_URL": server.base_url,
        "LABEL_STUDIO_API_KEY": server.personal_access_token,
        "REDIS_URL": "",
        "MODEL_DIR": str(tmp_path / "models"),
        "EMBEDDED_REDIS_DIR": str(tmp_path / "redis"),
        "WEB_TORCH_THREADS": "1",  # the 2 cores: one for the web, one for the worker
        "WORKER_TORCH_THREADS": "1",
        "TRAIN_MIN_ANNOTATIONS": "100000",
        "TRAIN_EVERY_CHANGES": "100000",
        "GATE_TOLERANCE": "1",
        "PUSH_UNCERTAINTY_SAMPLING": "true",
        **extra,
    }


def current(serve: Serve, project: int) -> str | None:
    return serve.get(f"/versions?project={project}")["current"]


def train(serve: Serve, client: LabelStudioClient, backend: int, project: int) -> tuple:
    """Start training; (the new version, time.monotonic() when it was seen serving)."""
    before = current(serve, project)
    client.train(backend)
    version = wait_for(
        lambda: (now := current(serve, project)) != before and now, 1800, interval=0.1
    )
    return version, time.monotonic()


def ended_push(serve: Serve, project: int, version: str) -> tuple[dict, float]:
    def ended() -> dict | None:
        for job in serve.get(f"/jobs?project={project}&kind=push")["jobs"]:
            if job["version"] == version and job["status"] in ("finished", "failed"):
                return job
        return None

    job = wait_for(ended, 1800, interval=0.1, message=serve.log_tail(40))
    return job, time.monotonic()


class Prober(threading.Thread):
    """/predict with one task, back to back, until stopped; each latency with the stage of
    the push seen last."""

    def __init__(self, serve: Serve, project: int, texts: list[str], stage) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.serve, self.project, self.texts, self.stage = serve, project, texts, stage
        self.samples: list[tuple[str, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopped.is_set():
            body = predict_body(
                self.project, [task(self.texts[i % len(self.texts)])], SENTIMENT_CONFIG
            )
            took, _ = self.serve.timed_post("/predict", body)
            self.samples.append((self.stage(), took))
            i += 1
            time.sleep(0.05)  # a person opening tasks, not a load test


def push_figures(job: dict, served_at: float, done_at: float) -> dict:
    push = job["push"]
    return {
        "version": job["version"],
        "tasks": push["tasks"],
        "stored": push["stored"],
        "missing": push["missing"],
        "served_to_all_stored_s": round(
            done_at - served_at - push["seconds"].get("finishing", 0), 1
        ),
        "served_to_job_end_s": round(done_at - served_at, 1),
        **{f"{k}_s": v for k, v in push["seconds"].items()},
    }


def test_push_10000_tasks_and_predict_latency(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    sentences = sample(sst2("train"), 10**6, seed=13)  # 6,920 of them, used once or twice
    texts = [sentences[i % len(sentences)][0] for i in range(TASKS)]
    labels = dict(sentences)
    dev = [text for text, _ in sst2("dev")]
    figures: dict = {"load average at start": os.getloadavg()}
    client = label_studio.client("pat")
    serve = Serve(backend_env(label_studio, tmp_path), tmp_path / "serve.log")
    try:
        project = client.create_project("bench 10k", SENTIMENT_CONFIG)["id"]
        client.import_tasks(project, [{"text": t} for t in texts])
        tasks = sorted(client.list_tasks(project, page_size=TASKS), key=lambda t: t["id"])
        backend = client.connect_ml_backend(project, serve.url, title="lsbert")["id"]
        for item in tasks[:ANNOTATED]:
            client.create_annotation(item["id"], sentiment(labels[item["data"]["text"]]))

        first, served_at = train(serve, client, backend, project)
        job, done_at = ended_push(serve, project, first)
        figures["first push"] = push_figures(job, served_at, done_at)
        held = [p for p in client.list_predictions(project=project) if p["model_version"] == first]
        figures["first push"]["label_studio_holds"] = len({p["task"] for p in held})

        idle = [
            serve.timed_post("/predict", predict_body(project, [task(t)], SENTIMENT_CONFIG))[0]
            for t in dev[:200]
        ]
        figures["predict idle ms"] = summarize(idle[20:])

        stage = {"now": "training"}
        prober = Prober(serve, project, dev, lambda: stage["now"])
        prober.start()
        second, served_at = train(serve, client, backend, project)
        stage["now"] = "push"
        job, done_at = ended_push(serve, project, second)
        stage["now"] = "after"
        prober.stopped.set()
        prober.join()
        figures["second push"] = push_figures(job, served_at, done_at)
        result = serve.get(f"/jobs/{job['id']}")["result"]
        figures["second push"]["deleted_versions"] = result["deleted_versions"]
        for name in ("training", "push"):
            figures[f"predict while {name} ms"] = summarize(
                [ms for s, ms in prober.samples if s == name]
            )
        figures["load average at end"] = os.getloadavg()
    finally:
        serve.stop()
    print("\n" + json.dumps(figures, indent=1))
    assert figures["first push"]["label_studio_holds"] == TASKS


NAMES = [("Ruth Stone", "PER"), ("Oslo", "LOC"), ("Quanta", "ORG")]


def long_texts(count: int) -> list[tuple[str, str, str]]:
    """1,000-character texts of CoNLL dev sentences, each naming one name three times;
    (text, name, its label)."""
    sentences = iter([text for text, _ in conll("dev")] * 3)
    found = []
    for n in range(count):
        name, label = NAMES[n % len(NAMES)]
        text = f"{name} said so."
        for mark in (300, 600, 1000):  # the name again past 300 and 600 characters
            while len(text) < mark:
                text += " " + next(sentences)
            if mark < 1000:
                text += f" Ask {name} again."
        text = text[:1000]
        found.append((text, name, label))
    return found


def drawn_region(text: str, name: str, label: str, occurrence: int) -> dict:
    starts = [i for i in range(len(text)) if text.startswith(name, i)]
    start = starts[occurrence]
    value = {"start": start, "end": start + len(name), "text": name, "labels": [label]}
    return {"id": f"r{occurrence}", "from_name": "label", "to_name": "text", "type": "labels",
            "origin": "manual", "value": value}  # fmt: skip


def test_interactive_suggestions_on_1000_characters(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    rows = sample(conll("train"), 150, seed=3)
    client = label_studio.client("pat")
    env = backend_env(label_studio, tmp_path, TRAIN_SPAN_EPOCHS="5")
    serve = Serve(env, tmp_path / "serve.log")
    try:
        project = client.create_project("bench interactive", NER_CONFIG)["id"]
        texts = long_texts(60)
        data = [{"text": t} for t, _ in rows] + [{"text": t} for t, _, _ in texts]
        client.import_tasks(project, data)
        tasks = sorted(client.list_tasks(project), key=lambda t: t["id"])
        backend = client.connect_ml_backend(project, serve.url, title="lsbert", is_interactive=True)
        for item, (text, spans) in zip(tasks, rows, strict=False):
            regions = [
                {"from_name": "label", "to_name": "text", "type": "labels",
                 "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]}}
                for s, e, label in spans
            ]  # fmt: skip
            client.create_annotation(item["id"], regions)
        version, _ = train(serve, client, backend["id"], project)
        long_tasks = list(zip(tasks[len(rows) :], texts, strict=True))
        first, again, through, suggested = [], [], [], []
        modelled: dict[int, list[bool]] = {0: [], 1: []}
        for item, (text, name, label) in long_tasks[:30]:  # straight to the backend
            for occurrence, timings in ((0, first), (1, again)):
                body = predict_body(project, [item], NER_CONFIG)
                body["params"]["context"] = {
                    "result": [drawn_region(text, name, label, occurrence)]
                }
                took, answer = serve.timed_post("/predict", body)
                timings.append(took)
                time.sleep(1.0)  # an annotator reads the suggestions before drawing again
                regions = answer["results"][0]["result"]
                suggested.append(len(regions))
                # the model's entities carry a score, the mentions none
                modelled[occurrence].append(any("score" in r for r in regions))
        for item, (text, name, label) in long_tasks[30:]:  # as the labelling page asks
            started = time.perf_counter()
            client.json(
                "POST",
                f"/api/ml/{backend['id']}/interactive-annotating",
                json={
                    "task": item["id"],
                    "context": {"result": [drawn_region(text, name, label, 0)]},
                },
            )
            through.append(1000 * (time.perf_counter() - started))
        figures = {
            "version": version,
            "characters": sorted({len(t) for t, _, _ in texts}),
            "regions suggested per answer": [min(suggested), max(suggested)],
            "first answers with the model's entities": f"{sum(modelled[0])} of 30",
            "next answers with the model's entities": f"{sum(modelled[1])} of 30",
            "first region of a text ms": summarize(first),
            "next region of the text ms": summarize(again),
            "first region, through Label Studio ms": summarize(through),
        }
    finally:
        serve.stop()
    print("\n" + json.dumps(figures, indent=1))
    assert figures["first region of a text ms"]["n"] == 30 and min(suggested) >= 2


pytestmark = pytest.mark.slow
