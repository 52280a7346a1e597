"""No secret in any log line, error or answer, no filesystem path in answers, valid
/metrics whatever was sent, and label configs read by a defused XML parser."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from backend.errors import LabelStudioError
from backend.labelstudio import LabelStudioClient
from backend.metrics import Metrics
from backend.redis_store import METRICS, key
from backend.serve.embedded_redis import free_port
from backend.settings import Settings
from backend.tools.payloads import predict_body, setup_body, task
from backend.training.queue import TrainingQueue
from backend.training.run import run_training
from backend.web.app import create_app
from tests.conftest import REPO, SENTIMENT_CONFIG, WorkerProcess
from tests.test_protocol import annotate
from tests.test_training_loop import finished_job
from tests.texts import synthetic_reviews

HOSTILE_ACTION = 'x\\"} 1\nlsbert_forged_total 99\n# '


def metric_families(client) -> dict[str, list]:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").get_data(as_text=True)
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_metrics_stay_valid_prometheus_text_whatever_a_webhook_sends(  # type: ignore[no-untyped-def]
    client, redis: Redis
) -> None:
    # what an older release stored for such an action, before labels were escaped
    redis.hincrbyfloat(key(METRICS), 'lsbert_webhooks_total{action="x\\"} 1\nforged 9\n"}', 1)
    for action in [HOSTILE_ACTION, *(f"ACTION_{i}" for i in range(500)), "START_TRAINING"]:
        client.post("/webhook", json={"action": action, "project": {"id": 1}})
    families = metric_families(client)  # the parser raises on a malformed line
    assert "lsbert_forged" not in families and "forged" not in families
    webhooks = {s.labels["action"]: s.value for s in families["lsbert_webhooks"]}
    assert webhooks == {"other": 501, "START_TRAINING": 1}  # 2 series, not 502
    routes = {s.labels["route"] for s in families["lsbert_http_requests"]}
    assert routes == {"/webhook"}


def test_label_values_are_escaped_as_the_exposition_format_says(  # type: ignore[no-untyped-def]
    client, redis: Redis
) -> None:
    Metrics(redis).add("lsbert_training_jobs_total", outcome='a\\b"c\nd')
    (sample,) = metric_families(client)["lsbert_training_jobs"]
    assert sample.labels == {"outcome": 'a\\b"c\nd'} and sample.value == 1


LOGGING_PROBE = """
import logging, sys
from gunicorn.config import Config
from gunicorn.glogging import Logger
from backend.logs import configure_logging

configure_logging("INFO")
log = logging.getLogger("backend.web.app")
log.error("error %s on %s %s", "e1", "GET", "/jobs/x\\n2026-01-01 00:00:00,000 ERROR 1 a: forged")
log.warning("Label Studio at http://admin:hunter2@ls:8080/api failed\\r\\nforged")
try:
    raise ValueError("bad\\n2026-01-01 00:00:00,000 ERROR 1 b: forged too")
except ValueError:
    log.exception("it failed")
config = Config()
config.set("errorlog", "-")
Logger(config).error("Invalid request from ip=%s: %s", "1.2.3.4", "x\\n[2026-01-01] forged")
"""


def test_every_log_record_is_one_line_that_no_request_can_forge() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_PROBE], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    records = [line for line in lines if not line.startswith("    | ")]
    assert len(records) == 4, lines  # the traceback's lines are marked as its continuation
    assert all(line.startswith(("20", "[20")) for line in records), records
    assert not any(
        "forged" in line and line.startswith(("2026-01-01", "[2026-01-01")) for line in lines
    )
    assert "hunter2" not in result.stderr and "http://***@ls:8080/api" in result.stderr
    assert "\\n2026-01-01 00:00:00,000 ERROR 1 a: forged" in result.stderr


def test_label_studio_errors_never_show_the_credentials_of_its_url() -> None:
    client = LabelStudioClient(f"http://admin:hunter2@127.0.0.1:{free_port()}", "token")
    with pytest.raises(LabelStudioError) as raised:
        client.annotated_tasks(1)
    assert "hunter2" not in str(raised.value) and "http://***@127.0.0.1" in str(raised.value)


def test_settings_never_show_the_credentials_of_label_studio_s_url() -> None:
    settings = Settings.from_env(
        {"LABEL_STUDIO_URL": "http://admin:hunter2@ls:8080", "LABEL_STUDIO_API_KEY": "key-123"}
    )
    assert "hunter2" not in repr(settings) and "key-123" not in repr(settings)


def test_a_failed_job_shows_neither_url_credentials_nor_paths(  # type: ignore[no-untyped-def]
    env: dict[str, str], redis: Redis, tmp_path: Path
) -> None:
    # API mode with credentials in the URL, towards a port where nothing listens
    env.update(
        LABEL_STUDIO_URL=f"http://admin:hunter2@127.0.0.1:{free_port()}",
        LABEL_STUDIO_API_KEY="key-123",
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        job_id = TrainingQueue(redis, 600).request(9, "test").job_id
        finished_job(redis, job_id, worker)
    finally:
        worker.stop()
    client = create_app(Settings.from_env(env)).test_client()
    item = client.get(f"/jobs/{job_id}").json
    assert item["status"] == "failed" and "unreachable at http://***@127.0.0.1" in item["error"]
    listed = client.get("/jobs").get_data(as_text=True)
    assert "hunter2" not in listed + json.dumps(item) and "key-123" not in listed


def test_a_failed_job_shows_no_absolute_path(  # type: ignore[no-untyped-def]
    env: dict[str, str], client, redis: Redis, tmp_path: Path
) -> None:
    empty = tmp_path / "models-here" / "not-a-model"
    empty.mkdir(parents=True)
    env["BASE_MODEL"] = str(empty)  # a folder without config.json: the run fails on it
    annotate(client, 4, synthetic_reviews(4, seed=1))
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        job_id = TrainingQueue(redis, 600).request(4, "test").job_id
        finished_job(redis, job_id, worker)
    finally:
        worker.stop()
    item = client.get(f"/jobs/{job_id}").json
    assert item["status"] == "failed" and ".../not-a-model has no config.json" in item["error"]
    assert str(tmp_path) not in client.get("/jobs").get_data(as_text=True) + item["error"]


def test_versions_show_no_filesystem_path(  # type: ignore[no-untyped-def]
    client, settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    annotate(client, 5, synthetic_reviews(30, seed=2))
    version = run_training(settings, redis, 5)["version"]
    record = settings.model_dir / "5" / "versions" / version / "version.json"
    assert json.loads(record.read_text())["base_model"]["path"]  # kept where it belongs
    (detail,) = client.get("/versions?project=5").json["details"]
    assert "path" not in detail["base_model"] and detail["base_model"]["name"].startswith(".../")
    # an unreadable record: its error names the file, not where it lies
    record.unlink()
    record.mkdir()
    for answer in (client.get("/versions?project=5"), client.get("/versions")):
        text = answer.get_data(as_text=True)
        assert str(tmp_path) not in text and str(settings.base_model) not in text
        assert ".../version.json" in text


def quadratic_blowup(references: int) -> str:
    """A config whose one entity of 100,000 characters is referenced `references` times:
    small enough for the standard library's expat to expand (under its 8 MB threshold)."""
    entity = "a" * 100_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE View [<!ENTITY a "{entity}">]><View>'
        '<Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
        f'<Choice value="{"&a;" * references}"/><Choice value="Negative"/></Choices></View>'
    )


EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE View [<!ENTITY x SYSTEM "file:///etc/passwd">]><View>'
    '<Text name="text" value="$text"/><Header value="&x;"/><Choices name="s" toName="text">'
    '<Choice value="a"/><Choice value="b"/></Choices></View>'
)


@pytest.mark.parametrize("config", [quadratic_blowup(50), EXTERNAL], ids=["blowup", "external"])
def test_entity_configs_are_refused_fast(client, redis: Redis, config: str) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = client.post("/setup", json=setup_body(6, config))
    assert time.perf_counter() - started < 0.5
    assert response.status_code == 400 and response.json["error"] == "unsupported_label_config"
    assert "entity" in response.json["message"] and "/etc/passwd" not in response.get_data(
        as_text=True
    )
    predicted = client.post("/predict", json=predict_body(6, [task("x")], config))
    assert predicted.status_code == 400


def test_a_prediction_past_web_timeout_stops_with_a_json_503(  # type: ignore[no-untyped-def]
    client, settings: Settings, redis: Redis
) -> None:
    annotate(client, 7, synthetic_reviews(30, seed=3))
    run_training(settings, redis, 7)
    hurried = create_app(dataclasses.replace(settings, web_timeout=0)).test_client()
    tasks = [task(text) for text, _ in synthetic_reviews(100, seed=9)]
    response = hurried.post("/predict", json=predict_body(7, tasks, SENTIMENT_CONFIG))
    assert response.status_code == 503 and response.json["error"] == "prediction_timeout"
    assert (
        "WEB_TIMEOUT=0 s" in response.json["message"] and "of 100 texts" in response.json["message"]
    )
    assert "fewer tasks" in response.json["fix"]
    answered = client.post("/predict", json=predict_body(7, tasks, SENTIMENT_CONFIG)).json
    assert len(answered["results"]) == 100 and all(r["result"] for r in answered["results"])
