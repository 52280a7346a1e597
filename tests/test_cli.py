"""The `lsbert` command as a user runs it: help, errors, and `serve` started and stopped."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from backend.tools.payloads import annotation_webhook, setup_body, task
from tests.conftest import LSBERT, REPO, SENTIMENT_CONFIG, Serve, child_env, wait_for
from tests.studio_flow import annotated_count
from tests.texts import synthetic_reviews


def lsbert(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LSBERT, *args],
        capture_output=True,
        text=True,
        env=child_env(env or {}),
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["serve", "web", "worker"])
def test_every_command_explains_itself(command: str) -> None:
    result = lsbert(command, "--help")
    assert result.returncode == 0
    assert "usage: lsbert " + command in result.stdout
    assert ("REDIS_URL" in result.stdout) and len(result.stdout.splitlines()) > 5


def test_wrong_flags_get_a_one_line_error() -> None:
    result = lsbert("worker", "--colour", "blue")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unrecognized arguments: --colour" in result.stderr


def test_invalid_settings_stop_the_program_with_the_variable_named() -> None:
    result = lsbert("serve", env={"TRAIN_EPOCHS": "lots"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("lsbert serve: TRAIN_EPOCHS='lots'")
    assert "Traceback" not in result.stderr


def test_web_without_redis_url_says_how_to_fix_it() -> None:
    result = lsbert("web", env={"REDIS_URL": ""})
    assert result.returncode == 2 and "lsbert serve" in result.stderr


@pytest.fixture
def serve_env(tmp_path: Path, tiny_model: Path) -> dict[str, str]:
    return {
        "REDIS_URL": "",
        "MODEL_DIR": str(tmp_path / "models"),
        "EMBEDDED_REDIS_DIR": str(tmp_path / "redis"),
        "BASE_MODEL": str(tiny_model),
        "TRAIN_EPOCHS": "15",
        "TRAIN_LEARNING_RATE": "0.003",
    }


def trained_version(serve: Serve) -> str:
    def published() -> str:
        version = serve.post("/setup", setup_body(1, SENTIMENT_CONFIG))["model_version"]
        return "" if version == "untrained" else version

    return wait_for(published, 90, interval=0.3, message=serve.log.read_text()[-3000:])


def test_serve_runs_redis_web_and_worker_and_stops_them_all(serve_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    models = Path(serve_env["MODEL_DIR"])
    serve = Serve(serve_env, tmp_path / "serve.log")
    try:
        names = " ".join(" ".join(p.cmdline()) for p in serve.children)
        assert (
            "redis-server" in names and "backend.cli web" in names and "backend.cli worker" in names
        )
        for text, label in synthetic_reviews(20, seed=11):
            serve.post(
                "/webhook",
                annotation_webhook(1, task(text), [label], label_config=SENTIMENT_CONFIG),
            )
        wait_for(lambda: examples_of_current(models) == 20, 90, 0.3, serve.log.read_text())
    finally:
        assert serve.stop(signal.SIGINT) == 0
    wait_for(
        lambda: (
            not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in serve.children)
        ),
        20,
        message="children left behind",
    )
    stopped_at = (models / "1" / "current").read_text()

    again = Serve(serve_env, tmp_path / "serve.log")
    try:
        # a restarted backend serves the current version at once
        assert again.post("/setup", setup_body(1, SENTIMENT_CONFIG))["model_version"] == stopped_at
        job = again.post("/webhook", {"action": "START_TRAINING", "project": {"id": 1}})
        assert job["status"] in ("queued", "coalesced")
        # the webhook annotations survived in the embedded Redis's append-only file
        wait_for(
            lambda: trained_version(again) != stopped_at and examples_of_current(models) == 20,
            90,
            interval=0.5,
            message=again.log.read_text()[-3000:],
        )
    finally:
        assert again.stop() == 0
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log


def examples_of_current(models: Path) -> int:
    pointer = models / "1" / "current"
    if not pointer.exists():
        return 0
    record = json.loads(
        (models / "1" / "versions" / pointer.read_text() / "version.json").read_text()
    )
    return annotated_count(record["controls"][0])


def test_serve_restarts_a_killed_worker_while_the_web_keeps_answering(  # type: ignore[no-untyped-def]
    serve_env, tmp_path: Path
) -> None:
    serve = Serve(serve_env, tmp_path / "serve.log")
    try:
        (killed,) = [p for p in serve.children if "backend.cli worker" in " ".join(p.cmdline())]
        killed.send_signal(signal.SIGKILL)

        def new_worker() -> psutil.Process | None:
            children = psutil.Process(serve.process.pid).children()
            workers = [p for p in children if "backend.cli worker" in command_line(p)]
            return next((p for p in workers if p.pid != killed.pid), None)

        restarted = wait_for(new_worker, 30, interval=0.2, message=serve.log.read_text())
        assert serve.healthy() and serve.process.poll() is None
        assert "worker exited with code -9: restarting it" in serve.log.read_text()
    finally:
        assert serve.stop() == 0
    assert not restarted.is_running() or restarted.status() == psutil.STATUS_ZOMBIE


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # a child that died and is not reaped yet
        return ""
