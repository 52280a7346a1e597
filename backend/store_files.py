"""Files the model store writes: replaced atomically and durably, folders owned by a live
writer, and a full disk told apart from other failures.

A pointer or history file is written beside its target, fsynced, renamed over it, and its
folder fsynced, so that after a power cut the file is the old one or the new one, and the
rename itself is on disk. A staging folder is owned through an `fcntl` lock on a file
beside it, held for as long as its writer lives: the kernel drops the lock when the writer
exits or is killed, so a cleaner removes exactly the folders of writers that are gone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

LOCK_SUFFIX = ".lock"
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# how libraries that write through their own code (safetensors, in Rust) word ENOSPC & co.
FULL_DISK_WORDS = ("no space left on device", "disk quota exceeded", "file too large")


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` whole, durably; on failure, `path` is unchanged and no
    temporary file is left."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Put a folder's entries (a rename, a new file) on disk."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_tree(folder: Path) -> None:
    """Every file and folder under `folder`, and `folder` itself, on disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


def is_disk_full(error: BaseException) -> bool:
    """Whether an exception, or one it was raised from, says the disk or quota is full."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_DISK:
            return True
        if any(words in str(seen).lower() for words in FULL_DISK_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def lock_of(folder: Path) -> Path:
    return folder.with_name(folder.name + LOCK_SUFFIX)


@contextmanager
def owned_folder(folder: Path) -> Iterator[Path]:
    """Create `folder` and own it while the context lasts. The lock beside it is taken
    before the folder exists and dropped only after the writer is done with it (renamed
    it away, or removed it), so a live writer's folder is never without its lock."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_of(folder)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a fresh name: nobody else holds it
        try:
            folder.mkdir()
            yield folder
        finally:
            lock.unlink(missing_ok=True)


def is_owned(folder: Path) -> bool:
    """Whether a live writer holds the lock of `folder` (this process's writers too)."""
    try:
        handle = lock_of(folder).open("r")
    except FileNotFoundError:
        return False  # made before locks (an earlier release), or a folder being deleted
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def remove_unowned(parent: Path, prefix: str) -> list[str]:
    """Remove the folders named `prefix*` in `parent` whose writer is gone, and their
    locks; the names removed. Callers serialise cleaners (the project's lock)."""
    removed = []
    for path in sorted(parent.glob(f"{prefix}*")):
        if path.name.endswith(LOCK_SUFFIX):
            folder = path.with_name(path.name[: -len(LOCK_SUFFIX)])
            if not folder.exists() and not is_owned(folder):
                path.unlink(missing_ok=True)  # the lock of a writer killed before mkdir
            continue
        if path.is_dir() and not is_owned(path):
            shutil.rmtree(path, ignore_errors=True)
            with suppress(FileNotFoundError):
                lock_of(path).unlink()
            removed.append(path.name)
    return removed
