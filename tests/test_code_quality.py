"""ruff and mypy, as configured in pyproject.toml, are clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "backend", "model", "tests"],
        ["ruff", "format", "--check", "backend", "model", "tests"],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_model_package_never_imports_the_service_stack() -> None:
    """model/ is pure ML: usable from a notebook without Flask, RQ or Redis."""
    code = (
        "import sys, model.training, model.classifier, model.base_model, model.runtime; "
        "print(sorted(m for m in ('flask', 'rq', 'redis', 'backend') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_web_side_loads_no_torch_until_it_predicts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """gunicorn forks its workers from a master that must never have run torch: building
    the app imports neither torch nor transformers (each worker warms up after the fork)."""
    code = (
        "import sys; from backend.web.app import create_app; "
        "from backend.settings import Settings; "
        f"create_app(Settings.from_env({{'REDIS_URL': 'redis://127.0.0.1:1/0', "
        f"'MODEL_DIR': '{tmp_path}'}})); "
        "import backend.cli, backend.training.jobs, backend.serve.supervisor; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
