"""Where the backend talks to and keeps things: Label Studio, Redis, the model store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.redaction import without_credentials
from backend.settings.fields import Group, redis_url, url, without_password

LABEL_STUDIO = Group("Label Studio")
STORAGE = Group("Storage and Redis")


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    label_studio_url: str = LABEL_STUDIO.setting(
        "LABEL_STUDIO_URL",
        "",
        "Label Studio's address as seen from the worker, e.g. `http://localhost:8080`. "
        "Set together with the key.",
        url,
        essential=True,
        mask=without_credentials,
    )
    label_studio_api_key: str = LABEL_STUDIO.setting(
        "LABEL_STUDIO_API_KEY",
        "",
        "a personal access token or a legacy token; enables API mode. Never logged.",
        secret=True,
        essential=True,
    )
    label_studio_timeout: float = LABEL_STUDIO.setting(
        "LABEL_STUDIO_TIMEOUT", 30.0, "seconds per Label Studio API request", minimum=1.0
    )

    redis_url: str = STORAGE.setting(
        "REDIS_URL",
        "",
        "e.g. `redis://localhost:6379/0`. Unset: `lsbert serve` embeds a Redis server; "
        "`lsbert web` and `lsbert worker` require it.",
        redis_url,
        essential=True,
        mask=without_password,
    )
    # RUF009 knows only dataclasses.field, which `setting` returns
    embedded_redis_dir: Path = STORAGE.setting(  # noqa: RUF009
        "EMBEDDED_REDIS_DIR",
        Path("data/redis"),
        "where the embedded Redis keeps its append-only file",
    )
    model_dir: Path = STORAGE.setting(  # noqa: RUF009
        "MODEL_DIR",
        Path("data/models"),
        "the model store: `<project>/versions/<version>/` and a `current` pointer",
        essential=True,
    )
