"""Pushed predictions against a real Label Studio 1.23.2: every task of a 1,000-task project
holds the served version's prediction without anyone pressing *Retrieve predictions*, the
project's model version follows the served one, uncertainty sampling serves the least
certain task first, a push killed halfway resumes without a duplicate, and a newer version
cancels a push still running for an older one. The tiny BERT: quality is not the point.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

import psutil
import pytest

from tests.conftest import (
    ONLY_START_TRAINING,
    REPO,
    SENTIMENT_CONFIG,
    Serve,
    StudioBackend,
    wait_for,
)
from tests.label_studio_server import LabelStudioClient, choices_result
from tests.studio_flow import sentiment, version_record
from tests.texts import synthetic_product_reviews, synthetic_reviews

pytestmark = pytest.mark.slow
TASKS = 1000
ANNOTATED = 20


@pytest.fixture
def push_env(env: dict[str, str]) -> dict:
    """Settings of lsbert serve on the tiny BERT in API mode: runs start with Start training
    only; pushes of 50 tasks a batch, slow enough to kill one halfway."""
    return {
        **env,
        **ONLY_START_TRAINING,
        "GATE_TOLERANCE": "1",  # every run serves: versions change, which is the subject
        "PUSH_BATCH_SIZE": "50",
        "PUSH_UNCERTAINTY_SAMPLING": "true",
    }


def pushes(serve: Serve, project: int) -> list[dict]:
    return serve.get(f"/jobs?project={project}&kind=push&limit=500")["jobs"]


ENDED = ("finished", "failed", "canceled")


def last_push(serve: Serve, project: int, version: str, reason: str = "") -> dict:
    """The newest push of `version` (whose reason holds `reason`), once it ended."""

    def ended() -> dict | None:
        found = [
            job
            for job in pushes(serve, project)
            if job["version"] == version and reason in job["reason"]
        ]
        return found[0] if found and found[0]["status"] in ENDED else None

    return wait_for(ended, 240, interval=0.5, message=serve.log_tail(40))


def running_push(serve: Serve, project: int, version: str) -> dict:
    """The push of `version` once it has stored some tasks and has more to do."""

    def halfway() -> dict | None:
        for job in pushes(serve, project):
            progress = job["progress"] or {}
            stored, done = progress.get("stored", 0), progress.get("done", 0)
            mine = job["version"] == version and job["status"] == "running"
            if mine and stored > 0 and done < progress["total"]:
                return job
        return None

    return wait_for(halfway, 120, interval=0.05, message=serve.log_tail(40))


def new_version(serve: Serve, client: LabelStudioClient, backend: int, project: int) -> str:
    before = serve.get(f"/versions?project={project}")["current"]
    client.train(backend)
    return wait_for(
        lambda: (now := serve.get(f"/versions?project={project}")["current"]) != before and now,
        240,
        interval=0.5,
        message=serve.log_tail(40),
    )


def predictions_per_task(client: LabelStudioClient, project: int) -> dict[str, Counter]:
    """Each version's count of predictions per task."""
    found: dict[str, Counter] = {}
    for prediction in client.list_predictions(project=project):
        found.setdefault(prediction["model_version"], Counter())[prediction["task"]] += 1
    return found


def assert_one_prediction_per_task(
    client: LabelStudioClient, project: int, version: str, task_ids: set[int]
) -> None:
    held = predictions_per_task(client, project)
    assert list(held) == [version], f"versions held: {sorted(held)}"
    assert set(held[version]) == task_ids and set(held[version].values()) == {1}


def score_column(client: LabelStudioClient, project: int) -> list[tuple[int, float]]:
    """(task, *Prediction score*) as the Data Manager lists them, sorted by that column."""
    query = json.dumps({"ordering": ["tasks:predictions_score"]})
    answer = client.json(
        "GET",
        "/api/tasks",
        params={"project": project, "page_size": TASKS, "fields": "all", "query": query},
    )
    return [(task["id"], task["predictions_score"]) for task in answer["tasks"]]


def worker_process(serve: Serve) -> psutil.Process:
    def find() -> psutil.Process | None:
        for child in psutil.Process(serve.process.pid).children(recursive=True):
            if "worker" in child.cmdline():
                return child
        return None

    return wait_for(find, 30, message="no worker process")


def test_every_served_version_reaches_every_task_and_orders_the_work(
    studio_backend: Callable[..., StudioBackend], push_env: dict
) -> None:
    rows = synthetic_reviews(TASKS, seed=3)
    # semi-supervised runs on (they are off by default): the second version learns from
    # the project's unannotated tasks too, read from Label Studio with the push's pager
    backend_run = studio_backend(**push_env, SEMI_SUPERVISED="true")
    client, serve = backend_run.client, backend_run.serve
    project = client.create_project("pushed predictions", SENTIMENT_CONFIG)["id"]
    client.import_tasks(project, [{"text": text} for text, _ in rows])
    tasks = sorted(client.list_tasks(project), key=lambda t: t["id"])
    ids = {t["id"] for t in tasks}
    labels = {t["id"]: label for t, (_, label) in zip(tasks, rows, strict=True)}
    backend = client.connect_ml_backend(project, serve.url, title="lsbert")["id"]
    for task in tasks[:ANNOTATED]:
        client.create_annotation(task["id"], sentiment(labels[task["id"]]))

    # the first version: pushed to every task, the project uses it, sampling set once
    first = new_version(serve, client, backend, project)
    job = last_push(serve, project, first)
    assert job["status"] == "finished" and job["outcome"] == "pushed", job
    assert job["push"]["tasks"] == job["push"]["stored"] == TASKS
    assert job["push"]["missing"] == job["push"]["invalid"] == 0
    assert_one_prediction_per_task(client, project, first, ids)
    settings = client.get_project(project)
    assert (settings["model_version"], settings["sampling"]) == (first, "Uncertainty sampling")

    # the Data Manager's Prediction score column: filled for every task, sorted by it
    scores = {p["task"]: p["score"] for p in client.list_predictions(project=project)}
    column = score_column(client, project)
    assert column == sorted(column, key=lambda pair: pair[1])
    assert dict(column) == scores and None not in scores.values()

    # the labelling stream serves the least certain unlabelled task first
    labelled = {t["id"] for t in tasks[:ANNOTATED]}
    served = []
    for _ in range(5):
        task = client.json("GET", f"/api/projects/{project}/next")
        lowest = min(scores[i] for i in ids - labelled)
        assert scores[task["id"]] == lowest, (task["id"], scores[task["id"]], lowest)
        served.append(scores[task["id"]])
        client.create_annotation(task["id"], sentiment(labels[task["id"]]))
        labelled.add(task["id"])
    assert served == sorted(served)

    # a second version replaces the first's predictions everywhere
    second = new_version(serve, client, backend, project)
    assert last_push(serve, project, second)["outcome"] == "pushed"
    assert_one_prediction_per_task(client, project, second, ids)
    assert client.get_project(project)["model_version"] == second
    pseudo = version_record(backend_run.models, project, second)["controls"][0]["unlabelled"]
    assert pseudo["teacher"] == first and pseudo["pool"] == TASKS - len(labelled), pseudo
    assert pseudo["used"] <= pseudo["above_threshold"] <= pseudo["pool"]

    # a rollback pushes again; killed halfway, the push resumes and stores no duplicate
    serve.post(f"/versions/{first}/activate?project={project}", {"reason": "test"})
    killed = running_push(serve, project, first)
    os.kill(worker_process(serve).pid, signal.SIGKILL)
    resumed = last_push(serve, project, first, reason=f"resumes push {killed['id']}")
    assert resumed["outcome"] == "pushed", resumed
    assert 0 < resumed["push"]["already"] < TASKS  # it found what the killed push stored
    assert resumed["push"]["stored"] == TASKS - resumed["push"]["already"]
    assert serve.get(f"/jobs/{killed['id']}")["status"] == "failed"
    assert_one_prediction_per_task(client, project, first, ids)
    assert client.get_project(project)["model_version"] == first

    # a newer version cancels the push still running for an older one
    serve.post(f"/versions/{second}/activate?project={project}", {})
    running_push(serve, project, second)
    serve.post(f"/versions/{first}/activate?project={project}", {})
    stopped = last_push(serve, project, second)
    assert stopped["outcome"] == "canceled" and first in stopped["detail"], stopped
    settled = last_push(serve, project, first)
    assert settled["outcome"] == "pushed" and settled["push"]["stored"] == 0, settled
    assert_one_prediction_per_task(client, project, first, ids)


MIXED_CONFIG = (REPO / "label_config" / "sentiment_and_entities.xml").read_text()
LONG_REVIEW = (
    "Zorbo makes the Rocket. I bought a Zorbo Rocket last year, and my friend owns two "
    "Zorbo phones; ZorboLand is not Zorbo."
)


def annotation(text: str, spans: list, mood: str) -> list[dict]:
    regions = [
        {
            "from_name": "entities",
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]},
        }
        for s, e, label in spans
    ]
    return [*regions, *choices_result("sentiment", "text", mood)]


def test_spans_are_pushed_and_an_interactive_region_brings_its_other_mentions(
    studio_backend: Callable[..., StudioBackend], push_env: dict
) -> None:
    rows = synthetic_product_reviews(40, seed=5)
    backend_run = studio_backend(
        **push_env, PUSH_MARGIN_FIELD="lsbert_margin", TRAIN_SPAN_EPOCHS="30"
    )
    client, serve = backend_run.client, backend_run.serve
    project = client.create_project("interactive spans", MIXED_CONFIG)["id"]
    client.import_tasks(project, [{"text": text} for text, _, _ in rows] + [{"text": LONG_REVIEW}])
    tasks = sorted(client.list_tasks(project), key=lambda t: t["id"])
    backend = client.connect_ml_backend(project, serve.url, title="lsbert", is_interactive=True)
    for task, (text, spans, mood) in zip(tasks[:30], rows, strict=False):
        client.create_annotation(task["id"], annotation(text, spans, mood))
    version = new_version(serve, client, backend["id"], project)

    # every task holds the version's spans and choice, stored with exact offsets
    pushed = last_push(serve, project, version)
    assert pushed["outcome"] == "pushed" and pushed["push"]["stored"] == len(tasks), pushed
    by_task = {p["task"]: p for p in client.list_predictions(project=project)}
    texts = {t["id"]: t["data"]["text"] for t in tasks}
    assert set(by_task) == set(texts)
    for task_id, prediction in by_task.items():
        for region in prediction["result"]:
            if region["type"] == "labels":
                value = region["value"]
                assert texts[task_id][value["start"] : value["end"]] == value["text"]
    # each task's margin is a data column, beside its untouched text
    for task in client.list_tasks(project):
        assert task["data"]["text"] == texts[task["id"]]
        assert 0 <= task["data"]["lsbert_margin"] <= 1

    # the annotator draws "Zorbo" once: Label Studio asks /predict with the region
    long_task = tasks[-1]["id"]
    drawn = {
        "id": "drawn1",
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "origin": "manual",
        "value": {"start": 0, "end": 5, "text": "Zorbo", "labels": ["BRAND"]},
    }
    answer = client.json(
        "POST",
        f"/api/ml/{backend['id']}/interactive-annotating",
        json={"task": long_task, "context": {"result": [drawn]}},
    )
    suggested = answer["data"]["result"]
    found = {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in suggested}
    others = [i for i in range(1, len(LONG_REVIEW)) if LONG_REVIEW.startswith("Zorbo", i)]
    mentions = {(i, i + 5, "BRAND") for i in others if LONG_REVIEW[i + 5] != "L"}
    assert len(mentions) == 3 and mentions <= found, suggested
    spans = sorted((r["value"]["start"], r["value"]["end"]) for r in suggested)
    assert spans[0][0] >= 5  # nothing returned on or across the drawn region
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # nor two overlapping
    assert all(r["value"]["text"] == LONG_REVIEW[s:e] for r, (s, e) in zip(
        sorted(suggested, key=lambda r: r["value"]["start"]), spans, strict=True))  # fmt: skip
