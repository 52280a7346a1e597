"""A property-based fuzz of every route, against one real `lsbert serve` on the tiny model
with basic auth on, a trained version (so /predict runs the model), and API mode with a
fake key towards a closed port: over 1,000 hostile requests, not one 5xx, every error JSON
that says what and how to fix it, no traceback, no secret, no filesystem path; /health
still answers within 50 ms afterwards."""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from backend.redis_store import ProjectConfigs, WebhookAnnotations
from backend.serve.embedded_redis import free_port
from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, task
from backend.training.run import run_training
from tests.conftest import REPO, SENTIMENT_CONFIG, Serve
from tests.hostile_strategies import (
    FORGED,
    any_json,
    authorizations,
    bodies,
    content_types,
    encoded,
    mostly,
    odd_text,
    predict_bodies,
    project_ids,
    raw_bodies,
    segment,
    setup_bodies,
    webhook_bodies,
)
from tests.texts import synthetic_reviews

USER, PASSWORD = "fuzzer", "fuzz-pass-9d41c7e2"
API_KEY = "fake-label-studio-key-5e0b2a77"
PROJECT = 3
SENT: Counter[str] = Counter()  # requests sent, by test
ANSWERS: Counter[int] = Counter()  # by status
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Fuzzed:
    def __init__(self, serve: Serve, secrets: list[str], paths: list[str]) -> None:
        self.serve, self.secrets, self.paths = serve, secrets, paths
        self.session = requests.Session()

    def send(self, test: str, method: str, path: str, **kwargs: object) -> requests.Response:
        SENT[test] += 1
        response = self.session.request(method, self.serve.url + path, timeout=60, **kwargs)  # type: ignore[arg-type]
        self.check(response, f"{method} {path[:200]}")
        ANSWERS[response.status_code] += 1
        return response

    def check(self, response: requests.Response, request: str) -> None:
        """No 5xx, no traceback, secret or path; every error JSON with what and a fix."""
        text = response.text
        assert response.status_code < 500, f"{request}: {response.status_code} {text[:500]}"
        assert "Traceback" not in text, request
        for secret in self.secrets:
            assert secret not in text, f"{request} answered a secret"
        for path in self.paths:
            assert path not in text, f"{request} answered a filesystem path: {text[:300]}"
        if response.status_code >= 400 and response.request.method != "HEAD":
            error = response.json()
            assert all(isinstance(error.get(k), str) for k in ("error", "message", "fix")), text
            assert error["fix"], f"{request}: an error without a fix: {text[:300]}"


def train_one_version(redis_url: str, models: Path, tiny_model: Path) -> None:
    """A version of PROJECT, trained in this process on a Redis of its own, before the
    server starts (in API mode, its worker could not read annotations)."""
    redis = Redis.from_url(redis_url)
    redis.flushall()
    environ = {"REDIS_URL": redis_url, "MODEL_DIR": str(models), "BASE_MODEL": str(tiny_model)}
    environ |= {"TRAIN_EPOCHS": "15", "TRAIN_LEARNING_RATE": "0.003", "INFERENCE_RUNTIME": "torch"}
    ProjectConfigs(redis).save(PROJECT, SENTIMENT_CONFIG)
    for text, label in synthetic_reviews(30, seed=5):
        body = annotation_webhook(PROJECT, task(text), [label])
        WebhookAnnotations(redis).save(PROJECT, body["task"], body["annotation"])
    run_training(Settings.from_env(environ), redis, PROJECT)
    redis.flushall()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, redis_server: str
) -> Iterator[Fuzzed]:
    folder = tmp_path_factory.mktemp("fuzz")
    train_one_version(redis_server, folder / "models", tiny_model)
    env = {
        "REDIS_URL": "",
        "MODEL_DIR": str(folder / "models"),
        "EMBEDDED_REDIS_DIR": str(folder / "redis"),
        "BASE_MODEL": str(tiny_model),
        "INFERENCE_RUNTIME": "torch",
        "BASIC_AUTH_USER": USER,
        "BASIC_AUTH_PASS": PASSWORD,
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "LABEL_STUDIO_API_KEY": API_KEY,
        "TRAIN_EVERY_CHANGES": "1000000",
    }
    serve = Serve(env, folder / "serve.log")
    roots = [folder, tiny_model, REPO, Path(sys.prefix), Path(sys.base_prefix)]
    fuzzed = Fuzzed(serve, [PASSWORD, API_KEY], sorted({str(p) for p in roots}))
    yield fuzzed
    fuzzed.session.close()
    serve.stop()


auths = authorizations(USER, PASSWORD)


def json_headers(auth: dict, content_type: str = "application/json") -> dict:
    return {**auth, "Content-Type": content_type} if content_type else auth


@settings(FUZZ, max_examples=260)
@given(body=st.one_of(webhook_bodies(), any_json), auth=auths)
def test_webhook(server: Fuzzed, body: object, auth: dict) -> None:
    server.send("webhook", "POST", "/webhook", data=encoded(body), headers=json_headers(auth))


@settings(FUZZ, max_examples=160)
@given(
    body=predict_bodies,
    auth=auths,
    project=st.sampled_from([PROJECT, f"{PROJECT}.17"]),
    aimed=mostly(st.just(True), st.just(False), 6),
    text=st.text(min_size=1, max_size=200),
)
def test_predict(
    server: Fuzzed, body: dict, auth: dict, project: object, aimed: bool, text: str
) -> None:
    if aimed:  # the trained project with its config, and a text among the fuzzed tasks
        tasks = body["tasks"] if isinstance(body["tasks"], list) else []
        tasks = [{"data": {"text": text + " a fine film"}}, *tasks]
        body = {**body, "tasks": tasks, "project": project, "label_config": SENTIMENT_CONFIG}
    answer = server.send(
        "predict", "POST", "/predict", data=encoded(body), headers=json_headers(auth)
    )
    if answer.status_code == 200 and any(item["result"] for item in answer.json()["results"]):
        SENT["model ran"] += 1


@settings(FUZZ, max_examples=140)
@given(body=setup_bodies, auth=auths)
def test_setup(server: Fuzzed, body: dict, auth: dict) -> None:
    server.send("setup", "POST", "/setup", data=encoded(body), headers=json_headers(auth))


@settings(FUZZ, max_examples=120)
@given(
    path=st.sampled_from(["/setup", "/predict", "/webhook"]),
    raw=raw_bodies,
    auth=auths,
    content_type=content_types,
)
def test_raw_bodies(server: Fuzzed, path: str, raw: bytes, auth: dict, content_type: str) -> None:
    server.send("raw", "POST", path, data=raw, headers=json_headers(auth, content_type))


queries = st.one_of(
    st.just(""),
    st.builds(lambda p: f"?project={segment(str(p))}", project_ids),
    st.builds(lambda n: f"?limit={segment(str(n))}", st.one_of(odd_text, st.integers())),
    st.builds(lambda t: f"?{segment(t)}={segment(t)}", odd_text),
)
version_names = st.one_of(
    st.sampled_from(["v1-20261122T101500", "v9-20261122T101500", "latest"]), odd_text
)


@settings(FUZZ, max_examples=200)
@given(
    route=st.one_of(
        st.builds(lambda q: ("GET", "/versions" + q), queries),
        st.builds(lambda q: ("GET", "/jobs" + q), queries),
        st.builds(lambda i, q: ("GET", f"/jobs/{segment(i)}{q}"), odd_text, queries),
        st.builds(
            lambda v, q: ("POST", f"/versions/{segment(v)}/activate{q}"), version_names, queries
        ),
    ),
    body=st.one_of(st.none(), bodies),
    auth=auths,
)
def test_versions_and_jobs(
    server: Fuzzed, route: tuple[str, str], body: object, auth: dict
) -> None:
    method, path = route
    data = None if body is None else encoded(body)
    server.send("versions-jobs", method, path, data=data, headers=json_headers(auth))


@settings(FUZZ, max_examples=160)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    base=st.sampled_from(["/", "/health", "/metrics", "/setup", "/predict", "/webhook", "/jobs"]),
    suffix=st.one_of(st.just(""), odd_text.map(segment), st.integers(4000, 9000).map("x".__mul__)),
    query=queries,
    body=st.one_of(st.none(), bodies),
    auth=auths,
    content_type=content_types,
)
def test_any_route(
    server: Fuzzed,
    method: str,
    base: str,
    suffix: str,
    query: str,
    body: object,
    auth: dict,
    content_type: str,
) -> None:
    path = base + (f"/{suffix}" if suffix and base != "/" else suffix) + query
    data = None if body is None else encoded(body)
    server.send("any", method, path, data=data, headers=json_headers(auth, content_type))


def test_after_the_fuzz_health_is_fast_and_the_log_unforged(server: Fuzzed) -> None:
    # warm: the first call after a burst may wait for a connection
    server.session.get(server.serve.url + "/health", timeout=5)
    times = []
    for _ in range(7):
        started = time.perf_counter()
        assert server.session.get(server.serve.url + "/health", timeout=5).json()["status"] == "UP"
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.05, f"/health took {times}"
    log = server.serve.log.read_text(errors="replace")
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith(FORGED)]
    assert not [line for line in lines if " ERROR " in line and " backend.web." in line]
    fuzz_tests = {"webhook", "predict", "setup", "raw", "versions-jobs", "any"}
    if fuzz_tests <= set(SENT):  # the whole module ran
        print(f"fuzz: {dict(SENT)} requests, answers by status {dict(sorted(ANSWERS.items()))}")
        assert sum(SENT[test] for test in fuzz_tests) >= 1000, SENT
        # not all refused at the door: many were read, and the model predicted for some
        assert sum(n for status, n in ANSWERS.items() if status < 300) >= 50, ANSWERS
        assert SENT["model ran"] >= 10, SENT
