import re
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import pytest

from backend.errors import ConfigError
from backend.settings import Settings, markdown_table
from backend.settings.fields import declarations, plain
from backend.training.fit import span_training_config, training_config
from model.config import SpanTrainingConfig, TrainingConfig
from tests.conftest import LSBERT, REPO, child_env

SECRETS = {
    "LABEL_STUDIO_URL": "http://ls:8080",
    "LABEL_STUDIO_API_KEY": "api-key-4f1c",
    "BASIC_AUTH_USER": "me",
    "BASIC_AUTH_PASS": "auth-pass-93b0",
}


def test_defaults_serve_the_bundled_model_from_webhooks() -> None:
    settings = Settings.from_env({})
    assert settings.base_model == "bundled"
    assert settings.model_dir == Path("data/models")
    assert settings.training_source == "webhooks"
    assert not settings.basic_auth_enabled
    assert settings.train_epochs == 8
    assert settings.web_torch_threads >= 1


def test_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "LABEL_STUDIO_URL": "http://ls:8080/",
            "LABEL_STUDIO_API_KEY": "abc",
            "TRAIN_EPOCHS": "3",
            "TRAIN_LEARNING_RATE": "1e-4",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.label_studio_url == "http://ls:8080"
    assert settings.training_source == "label-studio-api"
    assert (settings.train_epochs, settings.train_learning_rate) == (3, 1e-4)
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRAIN_EPOCHS": "many"}, "TRAIN_EPOCHS"),
        ({"TRAIN_BATCH_SIZE": "0"}, "TRAIN_BATCH_SIZE"),
        ({"TRAIN_LEARNING_RATE": "fast"}, "TRAIN_LEARNING_RATE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"LABEL_STUDIO_URL": "ls:8080", "LABEL_STUDIO_API_KEY": "k"}, "LABEL_STUDIO_URL"),
        ({"LABEL_STUDIO_API_KEY": "k"}, "LABEL_STUDIO_URL"),
        ({"LABEL_STUDIO_URL": "http://ls:8080"}, "LABEL_STUDIO_API_KEY"),
        ({"BASIC_AUTH_USER": "me"}, "BASIC_AUTH_PASS"),
        ({"WEB_TORCH_THREADS": "-1"}, "WEB_TORCH_THREADS"),
        ({"HOLDOUT_SHARE": "0.6"}, "HOLDOUT_SHARE"),
        ({"GATE_TOLERANCE": "2"}, "GATE_TOLERANCE"),
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(env: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        Settings.from_env(env)
    assert any(word in str(error.value) for word in ("set", "use", "write", "must", "copy"))


def test_web_and_worker_need_redis_url() -> None:
    with pytest.raises(ConfigError, match=r"REDIS_URL.*lsbert serve"):
        Settings.from_env({}).require_redis("web")


@pytest.mark.parametrize(
    ("document", "marker", "essential_only"),
    [
        ("docs/settings.md", "<!-- settings-table -->", False),
        ("README.md", "<!-- settings-table essential -->", True),
    ],
)
def test_the_docs_tables_are_the_declarations(
    document: str, marker: str, essential_only: bool
) -> None:
    text = (REPO / document).read_text()
    found = re.search(re.escape(marker) + r"\n(.*?)<!-- /settings-table -->", text, re.DOTALL)
    assert found, f"{document} lost its {marker} ... <!-- /settings-table --> markers"
    command = "lsbert settings --markdown" + (" --essential" if essential_only else "")
    assert found.group(1) == markdown_table(essential_only), (
        f"the table in {document} differs from the declarations in backend/settings.py: "
        f"run `{command}` and paste its output between the markers"
    )


@pytest.mark.parametrize("declared", declarations(Settings), ids=lambda d: d[1].name)
def test_every_setting_explains_itself_and_its_default_passes_its_own_checks(
    declared: tuple,
) -> None:
    attribute, declaration = declared
    assert declaration.help and declaration.group
    default = declaration.default_value()
    assert isinstance(default, get_type_hints(Settings)[attribute])
    assert getattr(Settings(), attribute) == default
    if declaration.minimum is not None:
        assert default >= declaration.minimum
    if declaration.maximum is not None:
        assert default <= declaration.maximum
    if plain(default):  # as a user would write it, through the parser and every check
        assert getattr(Settings.from_env({declaration.name: plain(default)}), attribute) == default


def test_secrets_stay_out_of_repr_and_the_listing() -> None:
    for redis_url in ("redis://:redis-pw-77aa@cache:6379/0", "redis://app:redis-pw-77aa@cache/0"):
        settings = Settings.from_env({**SECRETS, "REDIS_URL": redis_url})
        for shown in (repr(settings), str(settings), settings.listing()):
            for secret in ("api-key-4f1c", "auth-pass-93b0", "redis-pw-77aa"):
                assert secret not in shown
            assert "cache" in shown and "***" in shown
    assert repr(Settings.from_env({"REDIS_URL": "redis://cache:6379/0"})).count("***") == 0


def test_lsbert_settings_lists_values_and_prints_the_docs_tables() -> None:
    def lsbert(*args: str) -> str:
        result = subprocess.run(
            [*LSBERT, "settings", *args],
            capture_output=True,
            text=True,
            env=child_env({**SECRETS, "TRAIN_EPOCHS": "3"}),
            cwd=REPO,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    listing = lsbert()
    assert [line.split()[0] for line in listing.splitlines()] == [
        d.name for _, d in declarations(Settings)
    ]
    assert re.search(r"^TRAIN_EPOCHS +3 +\(default: 8\)$", listing, re.MULTILINE)
    assert re.search(r"^BASIC_AUTH_PASS +\*\*\* ", listing, re.MULTILINE)
    assert "auth-pass-93b0" not in listing and "api-key-4f1c" not in listing
    assert lsbert("--markdown") == markdown_table()
    assert lsbert("--markdown", "--essential") == markdown_table(essential_only=True)


def test_model_config_loads_no_torch() -> None:
    """Settings take their training defaults from model.config on the web side too."""
    code = (
        "import sys, model.config, backend.settings; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_training_defaults_are_the_settings_defaults() -> None:
    settings = Settings()
    assert settings.train_max_steps == TrainingConfig().max_steps == SpanTrainingConfig().max_steps
    assert settings.train_seed == TrainingConfig().seed == SpanTrainingConfig().seed
    assert training_config(settings) == TrainingConfig()
    assert span_training_config(settings) == SpanTrainingConfig()


def test_nothing_else_reads_the_environment_for_settings() -> None:
    reads = re.compile(r"os\.environ\[|environ\.get\(|getenv\(")
    readers = [
        str(path.relative_to(REPO))
        for folder in ("backend", "model")
        for path in sorted((REPO / folder).rglob("*.py"))
        if reads.search(path.read_text())
    ]
    assert readers == ["backend/settings/fields.py"]
