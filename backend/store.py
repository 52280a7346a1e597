"""The model store: immutable version folders per project and an atomic `current` pointer.

    MODEL_DIR/<project>/versions/<version>/version.json      what was trained, on what
    MODEL_DIR/<project>/versions/<version>/control-<i>/      one model per control tag
    MODEL_DIR/<project>/current                              name of the served version

A version is written in a staging folder, renamed into `versions/` whole, and only then
named in `current` by an atomic rename: a reader sees the old version or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.errors import BadRequest

UNTRAINED = "untrained"
STAGING_PREFIX = ".staging-"
VERSION_FILE = "version.json"
VERSION_PATTERN = re.compile(r"^v(\d+)-\d{8}T\d{6}$")


def project_id(value: object) -> int:
    """A Label Studio project id from `3`, `"3"` or the `"3.1700000000"` that /setup sends."""
    text = str(value).split(".", 1)[0].strip() if value is not None else ""
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(
            f"project {value!r} is not a Label Studio project id",
            'send the project id as Label Studio does, e.g. "project": "3.1700000000"',
        )
    return int(text)


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def project_dir(self, project: int) -> Path:
        return self.root / str(int(project))

    def versions_dir(self, project: int) -> Path:
        return self.project_dir(project) / "versions"

    def current_version(self, project: int) -> str | None:
        try:
            name = (self.project_dir(project) / "current").read_text().strip()
        except FileNotFoundError:
            return None
        return name if (self.versions_dir(project) / name).is_dir() else None

    def version_dir(self, project: int, version: str) -> Path:
        return self.versions_dir(project) / version

    def read_version(self, project: int, version: str) -> dict:
        return json.loads((self.version_dir(project, version) / VERSION_FILE).read_text())

    def versions(self, project: int) -> list[str]:
        folder = self.versions_dir(project)
        names = (
            [p.name for p in folder.iterdir() if VERSION_PATTERN.match(p.name)]
            if folder.is_dir()
            else []
        )
        return sorted(names, key=lambda name: int(VERSION_PATTERN.match(name).group(1)))  # type: ignore[union-attr]

    @contextmanager
    def staging(self, project: int) -> Iterator[Path]:
        """A fresh folder to write a version into; removed if the writer fails."""
        folder = self.versions_dir(project) / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def publish(self, project: int, staged: Path, record: dict) -> str:
        """Name the staged folder as the next version, record it, and make it current."""
        self.remove_abandoned_staging(project, keep=staged)
        version = self.next_version_name(project)
        record = {**record, "version": version, "project": project}
        write_atomically(staged / VERSION_FILE, json.dumps(record, indent=2))
        fsync_tree(staged)
        os.rename(staged, self.version_dir(project, version))
        write_atomically(self.project_dir(project) / "current", version)
        return version

    def next_version_name(self, project: int) -> str:
        existing = self.versions(project)
        number = int(VERSION_PATTERN.match(existing[-1]).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
        return f"v{number}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"

    def remove_abandoned_staging(self, project: int, keep: Path) -> None:
        """Staging folders left by a killed writer; only one writer per project runs at a time."""
        for folder in self.versions_dir(project).glob(f"{STAGING_PREFIX}*"):
            if folder != keep:
                shutil.rmtree(folder, ignore_errors=True)


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
