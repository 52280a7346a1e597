"""Reading docker/: the compose files as `docker-compose config` resolves them, and the
Dockerfile's instructions, so tests run what the deployment runs instead of a copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[1] / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
STACKS = {
    "backend": ["compose.yml"],
    "full": ["compose.yml", "compose.studio.yml"],
    "gpu": ["compose.yml", "compose.studio.yml", "compose.gpu.yml"],
}
REQUIRED = re.compile(r"\$\{(\w+):\?")


def docker_compose() -> str:
    """Debian's docker-compose, which validates files without a Docker engine."""
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI must install docker-compose (.ci/run does: apt-get install docker-compose)")
    pytest.skip("needs docker-compose (apt-get install docker-compose) to validate docker/")


def required_variables(files: list[str]) -> list[str]:
    names: set[str] = set()
    for name in files:
        names.update(REQUIRED.findall((DOCKER / name).read_text()))
    return sorted(names)


def compose_config(files: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the given variables: nothing from the caller's environment may satisfy a `:?`.
    command = [docker_compose(), "--project-directory", str(DOCKER)]
    for name in files:
        command += ["-f", str(DOCKER / name)]
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [*command, "config"], capture_output=True, text=True, env=clean, cwd=DOCKER, timeout=60
    )


def resolved_services(files: list[str], env: dict[str, str]) -> dict:
    result = compose_config(files, env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def dockerfile_instructions(name: str) -> list[str]:
    """Arguments of every instruction `name` (RUN, ENTRYPOINT...), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        line.split(" ", 1)[1].strip() for line in text.splitlines() if line.startswith(name + " ")
    ]


def entrypoint() -> list[str]:
    (value,) = dockerfile_instructions("ENTRYPOINT")
    return json.loads(value)
