from pathlib import Path

import pytest

from backend.errors import ConfigError
from backend.settings import Settings


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
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(env: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        Settings.from_env(env)
    assert any(word in str(error.value) for word in ("set", "use", "write", "must", "copy"))


def test_web_and_worker_need_redis_url() -> None:
    with pytest.raises(ConfigError, match=r"REDIS_URL.*lsbert serve"):
        Settings.from_env({}).require_redis("web")
