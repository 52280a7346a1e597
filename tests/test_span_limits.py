"""Bounded work per /predict: span texts read up to SPAN_MAX_CHARS, in windows of bounded
memory; at most PREDICT_CONCURRENCY predictions at once, with threads kept for /health and
/setup; at most MODEL_CACHE_SIZE loaded versions per web process. On the tiny BERT."""

from __future__ import annotations

import gc
import statistics
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from redis import Redis

from backend.errors import Busy
from backend.metrics import Metrics
from backend.prediction_results import cut
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import predict_body, setup_body, task
from backend.training.run import run_training
from backend.web.app import create_app
from backend.web.model_cache import ModelCache
from backend.web.predict_limits import PredictionSlots
from model.token_classifier import text_groups
from tests.conftest import Serve
from tests.test_span_projects import annotation_body
from tests.texts import synthetic_product_reviews

SPANS_CONFIG = (
    '<View><Labels name="entities" toName="text"><Label value="PRODUCT"/>'
    '<Label value="BRAND"/></Labels><Text name="text" value="$text"/></View>'
)
PROJECT = 21  # the project tests.test_span_projects.annotation_body writes to


def train_spans(settings: Settings, redis: Redis, project: int = PROJECT) -> str:
    client = create_app(settings).test_client()
    for text, spans, sentiment in synthetic_product_reviews(60, seed=41):
        body = annotation_body(text, spans, sentiment)
        body["project"] = {"id": project, "label_config": SPANS_CONFIG}
        body["annotation"]["result"] = body["annotation"]["result"][:-1]  # the spans only
        assert client.post("/webhook", json=body).status_code == 200
    return str(run_training(settings, redis, project)["version"])


def long_text(chars: int) -> str:
    rows = synthetic_product_reviews(chars // 30 + 10, seed=2)
    return " ".join(text for text, _, _ in rows)[:chars]


@pytest.fixture
def span_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "TRAIN_MIN_ANNOTATIONS": "100000",
        "TRAIN_EVERY_CHANGES": "100000",
        "SPAN_MAX_CHARS": "2000",
    }


def spans_of(client, text: str) -> list[dict]:  # type: ignore[no-untyped-def]
    body = predict_body(PROJECT, [task(text)], SPANS_CONFIG)
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.json
    return [r["value"] for r in answer.json["results"][0]["result"]]


def test_a_long_text_is_read_up_to_span_max_chars(span_env: dict[str, str], redis: Redis) -> None:
    settings = Settings.from_env(span_env)
    train_spans(settings, redis)
    client = create_app(settings).test_client()
    text = long_text(50_000)
    found = spans_of(client, text)
    assert found, "no span in the part read"
    assert all(text[s["start"] : s["end"]] == s["text"] for s in found)
    assert max(s["end"] for s in found) <= 2000
    assert min(s["start"] for s in found) < 100
    assert Metrics(redis).snapshot()["lsbert_predict_texts_cut_total"] == 1
    # a text within the limit is read whole, to its end
    short = long_text(1900)
    assert max(s["end"] for s in spans_of(client, short)) > 1700
    assert "lsbert_predict_texts_cut_total" in Metrics(redis).render()


def test_a_cut_ends_at_a_space_and_groups_keep_predictions_the_same() -> None:
    assert cut("alpha beta gamma", 100) == "alpha beta gamma"
    assert cut("alpha beta gamma", 12) == "alpha beta"
    assert cut("x" * 500, 300) == "x" * 300
    texts = ["a" * 60, "b" * 50, "c" * 300, "d" * 10]
    assert text_groups(texts, 120) == [["a" * 60, "b" * 50], ["c" * 300], ["d" * 10]]
    assert text_groups([], 10) == [] and text_groups([""], 10) == [[""]]


def test_grouped_windows_predict_as_one_pass(span_env: dict[str, str], redis: Redis) -> None:
    from model import token_classifier
    from model.loading import load_model

    settings = Settings.from_env(span_env)
    version = train_spans(settings, redis)
    store = ModelStore(settings.model_dir)
    entry = store.read_version(PROJECT, version).controls[0]
    tagger = load_model(entry.kind, store.version_dir(PROJECT, version) / entry.folder, "cpu")
    texts = [long_text(900), "the Velox Pebble was really superb", long_text(3000)]
    whole = tagger.predict(texts)
    original = token_classifier.CHARS_PER_PASS
    try:
        token_classifier.CHARS_PER_PASS = 1000  # one text per pass, the long one alone
        assert tagger.predict(texts) == whole
    finally:
        token_classifier.CHARS_PER_PASS = original


def test_the_slots_admit_a_bounded_number_and_refuse_the_rest() -> None:
    slots = PredictionSlots(computing=1, admitted=2)
    inside, release = threading.Event(), threading.Event()
    computing = []

    def hold() -> None:
        with slots.turn():
            computing.append(1)
            inside.set()
            release.wait(10)
            computing.pop()

    first = threading.Thread(target=hold)
    first.start()
    assert inside.wait(10)
    waiting = threading.Thread(target=hold)  # admitted: waits for the first's turn
    waiting.start()
    time.sleep(0.2)
    assert len(computing) == 1  # one computes, the other waits
    with pytest.raises(Busy, match="busy"), slots.turn():
        pass
    release.set()
    first.join(10)
    waiting.join(10)
    with slots.turn():  # free again
        pass
    assert PredictionSlots.for_threads(1, 8).admitted._value == 6  # type: ignore[attr-defined]


@pytest.fixture
def served_spans(span_env: dict[str, str], redis_url: str, tmp_path: Path) -> Iterator[Serve]:
    """`lsbert serve` with a span version, on the test's Redis, default threads."""
    settings = Settings.from_env(span_env)
    train_spans(settings, Redis.from_url(redis_url))
    server = Serve({**span_env, "SPAN_MAX_CHARS": "20000"}, tmp_path / "serve.log")
    yield server
    server.stop()


def web_process(server: Serve) -> psutil.Process:
    webs = [p for p in server.children if "web" in " ".join(p.cmdline())]
    return next(p.children()[0] for p in webs if p.children())


def test_health_and_setup_stay_fast_while_four_maximal_predictions_run(
    served_spans: Serve,
) -> None:
    """Four requests of many texts far past SPAN_MAX_CHARS in flight: /health and /setup
    answer in milliseconds, every /predict is answered, and the web process's memory
    comes back down afterwards."""
    server = served_spans
    body = predict_body(PROJECT, [task(long_text(200_000)) for _ in range(8)], SPANS_CONFIG)
    server.post("/predict", predict_body(PROJECT, [task("the Velox Pebble")], SPANS_CONFIG))
    web = web_process(server)
    before = web.memory_info().rss
    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(requests.post, server.url + "/predict", json=body, timeout=600)]
        answers += [
            pool.submit(requests.post, server.url + "/predict", json=body, timeout=600)
            for _ in range(3)
        ]
        time.sleep(0.5)  # all four in flight
        health, setup = [], []
        session = requests.Session()
        while not all(a.done() for a in answers):
            started = time.perf_counter()
            assert session.get(server.url + "/health", timeout=30).status_code == 200
            health.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = session.post(
                server.url + "/setup", json=setup_body(PROJECT, SPANS_CONFIG), timeout=30
            )
            assert answer.status_code == 200
            setup.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    codes = [a.result().status_code for a in answers]
    assert codes == [200] * 4, [a.result().text[:300] for a in answers]
    assert all(len(a.result().json()["results"]) == 8 for a in answers)
    p50, p95 = statistics.median(health), statistics.quantiles(health, n=20)[-1]
    setup_p95 = statistics.quantiles(setup, n=20)[-1]
    grown = (web.memory_info().rss - before) / 2**20
    print(
        f"\n/health over {len(health)} calls: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max "
        f"{max(health):.1f} ms; /setup p95 {setup_p95:.1f} ms; web RSS {grown:+.0f} MB"
    )
    assert len(health) >= 10
    assert p95 < 50 and setup_p95 < 50, (health, setup)
    assert grown < 300


def test_loaded_versions_are_evicted_least_recently_used(
    span_env: dict[str, str], redis: Redis
) -> None:
    settings = Settings.from_env(span_env)
    for project in (31, 32, 33):
        train_spans(settings, redis, project)
    cache = ModelCache(ModelStore(settings.model_dir), 1, "cpu", "torch", size=2)
    first = cache.get(31)
    assert first is not None
    model = weakref.ref(first.models["entities"])
    cache.get(32)
    cache.get(31)  # used again: 32 is now the least recently used
    cache.get(33)
    assert cache.loaded_projects() == [31, 33]
    del first
    cache.get(32)
    assert cache.loaded_projects() == [33, 32]
    gc.collect()
    assert model() is None, "the evicted version is still in memory"
    assert cache.get(31) is not None and cache.loaded_projects() == [32, 31]
