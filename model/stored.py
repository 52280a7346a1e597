"""The metadata file every saved model folder carries beside its weights."""

from __future__ import annotations

import json
from pathlib import Path

from model.errors import StoredModelError


def read_meta(folder: Path, name: str, expected_format: str) -> dict:
    """The folder's metadata, refused if missing, unreadable or of another model kind."""
    try:
        meta = json.loads((folder / name).read_text())
    except (OSError, ValueError) as error:
        raise StoredModelError(f"{folder} holds no readable {name}: {error}") from None
    if meta.get("format") != expected_format:
        raise StoredModelError(f"{folder} holds a model of format {meta.get('format')!r}")
    return meta
