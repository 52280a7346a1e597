"""The model store: immutable version folders per project and an atomic `current` pointer.

    MODEL_DIR/<project>/versions/<version>/version.json      what was trained, on what
    MODEL_DIR/<project>/versions/<version>/control-<i>/      one model per control tag
    MODEL_DIR/<project>/current                              name of the served version
    MODEL_DIR/<project>/history.json                         what happened to which version
    MODEL_DIR/<project>/quality.json                         label quality after the last run

A version is written in a staging folder of its own, renamed into `versions/` whole, and
only then named in `current` by an atomic rename: a reader sees the old version or the new
one, never half of one. A version's record never changes after publishing; what became of
it later (rolled back, deleted) goes to the history, and its status is read from both.
Writers (the worker publishing, a web process activating) take a per-project file lock.

Publishing is compare-and-swap: a run's version becomes current only if the version it
was compared against (its record's `champion`) still is; otherwise it is kept as a
challenger, so a rollback made while the run trained stands. Each staging folder is owned
by its writer's lock (store_files), and cleanup removes only folders nobody owns.
Pruning keeps the last versions that were current and those activated by hand lately.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.clock import compact_stamp, utc_now
from backend.errors import BadRequest, NotFound, StoreFull
from backend.store_files import (
    fsync_dir,
    fsync_tree,
    is_disk_full,
    owned_folder,
    remove_unowned,
    write_atomically,
)
from backend.store_rules import (
    VERSION_PATTERN,
    kept_as_challenger,
    number,
    protected,
    version_statuses,
)
from backend.version_record import VersionRecord

UNTRAINED = "untrained"
STAGING_PREFIX = ".staging-"
VERSION_FILE = "version.json"
HISTORY_FILE = "history.json"
QUALITY_FILE = "quality.json"

MAX_ID_DIGITS = 18  # a 64-bit database id; longer names make file names too long


def project_id(value: object) -> int:
    """A Label Studio project id from `3`, `"3"` or the `"3.1700000000"` that /setup sends:
    ASCII digits only (str.isdigit takes "²" and "٣"), at most 18 of them, at least 1."""
    text = str(value).split(".", 1)[0].strip() if isinstance(value, int | str) else ""
    valid = not isinstance(value, bool) and text.isascii() and text.isdigit()
    if not valid or len(text) > MAX_ID_DIGITS or int(text) < 1:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}..."
        raise BadRequest(
            f"project {shown} is not a Label Studio project id (a whole number from 1, of at "
            f"most {MAX_ID_DIGITS} digits)",
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

    def read_version(self, project: int, version: str) -> VersionRecord:
        return VersionRecord.from_dict(self.read_raw_version(project, version))

    def read_raw_version(self, project: int, version: str) -> dict:
        """The record's JSON as written; raises OSError or ValueError where it is unreadable."""
        return json.loads((self.version_dir(project, version) / VERSION_FILE).read_text())

    def newest(self, project: int, count: int) -> list[tuple[str, VersionRecord]]:
        """The newest `count` versions' statuses and records, oldest first."""
        statuses = self.statuses(project)
        names = self.versions(project)[-count:]
        return [(statuses[name], self.read_version(project, name)) for name in names]

    def versions(self, project: int) -> list[str]:
        folder = self.versions_dir(project)
        names = (
            [p.name for p in folder.iterdir() if VERSION_PATTERN.match(p.name)]
            if folder.is_dir()
            else []
        )
        return sorted(names, key=number)

    @contextmanager
    def staging(self, project: int) -> Iterator[Path]:
        """A fresh folder to write a version into, owned by this writer until it ends;
        removed if the writer fails. A full disk is told as such (StoreFull)."""
        folder = self.versions_dir(project) / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        with owned_folder(folder):
            try:
                yield folder
            except BaseException as error:
                shutil.rmtree(folder, ignore_errors=True)
                if isinstance(error, Exception) and is_disk_full(error):
                    raise StoreFull(self.full_message(project)) from error
                raise

    def full_message(self, project: int) -> str:
        serving = self.current_version(project)
        keeps = f"{serving} keeps serving" if serving else "no version serves yet"
        return (
            f"no space left in the model store (MODEL_DIR) for a version of project "
            f"{project}: nothing was published and {keeps}. Free space on MODEL_DIR's disk "
            "(or delete old versions), or point MODEL_DIR at a larger one, then train again"
        )

    def publish(
        self,
        project: int,
        staged: Path,
        record: VersionRecord,
        make_current: bool = True,
        compare_and_swap: bool = False,
    ) -> str:
        """Name the staged folder as the next version and record it; make it current unless
        it was rejected, in which case it is kept beside the current one for inspection.

        With `compare_and_swap`, it becomes current only if the current version is still
        `record.champion`, the one it was compared against; otherwise its decision says
        why it was kept as a challenger (a rollback or another run made while it trained).
        """
        with self.lock(project):
            remove_unowned(self.versions_dir(project), STAGING_PREFIX)
            version = self.next_version_name(project)
            record.version, record.project = version, project
            replaced = self.current_version(project)
            if make_current and compare_and_swap and replaced != record.champion:
                record.decision = kept_as_challenger(project, record, replaced)
                make_current = False
            write_atomically(staged / VERSION_FILE, json.dumps(record.to_dict(), indent=2))
            fsync_tree(staged)
            target = self.version_dir(project, version)
            os.rename(staged, target)
            try:
                fsync_dir(target.parent)
                self.record_publication(project, version, replaced, make_current, record)
            except BaseException:
                os.rename(target, staged)  # back to staging, which its writer removes
                raise
            return version

    def record_publication(
        self,
        project: int,
        version: str,
        replaced: str | None,
        make_current: bool,
        record: VersionRecord,
    ) -> None:
        """Move the pointer, then add the event; the pointer goes back if the event fails,
        so a failed publish leaves the store as it was."""
        if make_current:
            write_atomically(self.project_dir(project) / "current", version)
        try:
            if make_current:
                self.add_event(project, "published", version, replaced=replaced)
            else:
                reason = record.decision.extra.get("kept_because")
                self.add_event(project, "rejected", version, reason=reason)
        except BaseException:
            if make_current:
                self.point_back(project, replaced)
            raise

    def point_back(self, project: int, version: str | None) -> None:
        pointer = self.project_dir(project) / "current"
        if version is None:
            pointer.unlink(missing_ok=True)
        else:
            write_atomically(pointer, version)

    def activate(self, project: int, version: str, reason: str) -> str | None:
        """Make an existing version current again (a rollback); returns the one replaced."""
        with self.lock(project):
            if version not in self.versions(project):
                raise UnknownVersion(project, version, self.versions(project))
            self.read_raw_version(project, version)  # refuses a folder without a readable record
            replaced = self.current_version(project)
            write_atomically(self.project_dir(project) / "current", version)
            self.add_event(project, "activated", version, replaced=replaced, reason=reason)
            return replaced

    def prune(self, project: int, keep: int) -> list[str]:
        """Delete the oldest versions beyond `keep`, but never one `protected` keeps."""
        with self.lock(project):
            names = self.versions(project)
            kept = protected(self.history(project), self.current_version(project), keep)
            spare = [v for v in names if v not in kept]
            doomed = spare[: max(0, len(names) - keep)]
            for version in doomed:
                # renamed first, so a half-deleted folder never looks like a version
                trash = self.versions_dir(project) / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
                os.rename(self.version_dir(project, version), trash)
                fsync_dir(trash.parent)
                shutil.rmtree(trash, ignore_errors=True)
                self.add_event(project, "deleted", version, reason=f"more than {keep} versions")
            return doomed

    def history(self, project: int) -> list[dict]:
        try:
            return json.loads((self.project_dir(project) / HISTORY_FILE).read_text())
        except FileNotFoundError:
            return []

    def add_event(self, project: int, event: str, version: str, **details: object) -> None:
        entry: dict[str, object] = {"at": utc_now(), "event": event, "version": version}
        entry.update({k: v for k, v in details.items() if v is not None})
        path = self.project_dir(project) / HISTORY_FILE
        write_atomically(path, json.dumps([*self.history(project), entry], indent=1))

    def write_quality(self, project: int, report: dict) -> None:
        """The label quality the newest run measured (backend.quality), replaced whole."""
        folder = self.project_dir(project)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / QUALITY_FILE, json.dumps(report, indent=1))

    def read_quality(self, project: int) -> dict | None:
        """The newest label quality report, or None before the first."""
        try:
            return json.loads((self.project_dir(project) / QUALITY_FILE).read_text())
        except FileNotFoundError:
            return None

    def statuses(self, project: int) -> dict[str, str]:
        """Every stored version's status (store_rules.version_statuses)."""
        names = self.versions(project)
        return version_statuses(self.history(project), names, self.current_version(project))

    @contextmanager
    def lock(self, project: int) -> Iterator[None]:
        """An exclusive lock between processes on this project's pointer and history."""
        folder = self.project_dir(project)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def next_version_name(self, project: int) -> str:
        # numbers never repeat, even after the newest version was deleted
        used = [number(v) for v in self.versions(project)]
        used += [number(e["version"]) for e in self.history(project)]
        return f"v{max(used, default=0) + 1}-{compact_stamp()}"


def agreement_of_version(agreement: dict | None, version: str) -> dict:
    """One version's figures per control, from a quality report's `agreement`."""
    controls = (agreement or {}).get("controls", {})
    return {
        name: entry["versions"][version]
        for name, entry in controls.items()
        if version in entry.get("versions", {})
    }


class UnknownVersion(NotFound):
    def __init__(self, project: int, version: str, known: list[str]) -> None:
        super().__init__(
            f"project {project} has no version {version!r}",
            f"pick one of {', '.join(known) or 'none yet'} (GET /versions?project={project})",
        )
