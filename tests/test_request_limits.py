"""REQUEST_MAX_MB against a real `lsbert serve` (gunicorn reads the bodies): a body past it
is refused with a JSON 413 before it is parsed, with or without Content-Length, whoever
sends it; the largest body Label Studio sends for 500 tasks fits with room to spare."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from backend.tools.payloads import full_span_task, predict_body
from tests.conftest import REPO, Serve

SPAN_CONFIG = (REPO / "label_config" / "named_entities.xml").read_text()
CREDENTIALS = ("ls", "limits-pass")
MB = 2**20
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Serve]:
    folder = tmp_path_factory.mktemp("limits")
    env = {
        "REDIS_URL": "",
        "MODEL_DIR": str(folder / "models"),
        "EMBEDDED_REDIS_DIR": str(folder / "redis"),
        "BASE_MODEL": str(tiny_model),
        "BASIC_AUTH_USER": CREDENTIALS[0],
        "BASIC_AUTH_PASS": CREDENTIALS[1],
    }
    serve = Serve(env, folder / "serve.log")
    yield serve
    serve.stop()


def web_worker(serve: Serve) -> psutil.Process:
    """The gunicorn worker process: the one that reads and parses request bodies."""
    processes = psutil.Process(serve.process.pid).children(recursive=True)
    webs = [p for p in processes if "backend.cli web" in " ".join(p.cmdline())]
    (worker,) = [p for p in webs if p.ppid() in {w.pid for w in webs}]
    return worker


def webhook_of(size: int) -> bytes:
    """An annotation webhook of `size` bytes, as JSON that parses (into many objects)."""
    region = json.dumps({"value": {"start": 0, "end": 4, "labels": ["ORG"]}, "id": "x" * 40})
    count = size // (len(region) + 2)
    regions = ", ".join([region] * count)
    return (
        '{"action": "ANNOTATION_CREATED", "project": {"id": 1}, "task": {"id": 1, "data": {}},'
        f' "annotation": {{"id": 1, "result": [{regions}]}}}}'
    ).encode()


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_too_large(response: requests.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    error = response.json()
    assert error["error"] == "payload_too_large" and "REQUEST_MAX_MB=20" in error["message"]
    assert "fewer tasks" in error["fix"]


def test_a_24_mb_webhook_without_credentials_is_refused_before_it_is_parsed(server: Serve) -> None:
    body = webhook_of(24 * MB)
    worker = web_worker(server)
    small = requests.post(server.url + "/webhook", data=webhook_of(10_000), headers=JSON)
    assert small.status_code == 200  # parsed: annotation events need no credentials
    before, times = worker.memory_info().rss, []
    with requests.Session() as session:
        for _ in range(5):
            started = time.perf_counter()
            response = session.post(server.url + "/webhook", data=body, headers=JSON)
            seconds = time.perf_counter() - started
            times.append(seconds)
            assert_too_large(response)
            assert seconds < 1.0, f"the 413 took {seconds:.2f} s"
        # the connection still serves the next request: the refused body was skipped
        assert session.get(server.url + "/health").json()["status"] == "UP"
    grown = (worker.memory_info().rss - before) / MB
    print(f"\n413 for a 24 MB body: {max(times) * 1000:.0f} ms at most; web RSS {grown:+.1f} MiB")
    assert grown < 5, f"the web worker grew {grown:.0f} MiB on bodies it never parsed"


def test_a_chunked_body_past_the_limit_is_refused_too(server: Serve) -> None:
    response = requests.post(
        server.url + "/predict", data=chunks(webhook_of(24 * MB)), headers=JSON, auth=CREDENTIALS
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert_too_large(response)
    small = requests.post(
        server.url + "/webhook", data=chunks(webhook_of(300_000)), headers=JSON
    ).json()
    assert (small["action"], small["payload_stored"]) == ("ANNOTATION_CREATED", False)


def test_500_tasks_as_label_studio_sends_them_fit_with_room(server: Serve) -> None:
    text = ("Acme Corp. hired Jane Doe in Berlin last spring, and the deal closed. " * 30)[:2000]
    tasks = [full_span_task(text, regions=20) for _ in range(500)]
    body = json.dumps(predict_body(1, tasks, SPAN_CONFIG)).encode()
    assert 5 * MB < len(body) < 20 * MB / 2.5  # the default leaves 2.5x headroom and more
    response = requests.post(server.url + "/predict", data=body, headers=JSON, auth=CREDENTIALS)
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["results"]) == 500
