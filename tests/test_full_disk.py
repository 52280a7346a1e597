"""The model store on a full disk, and its durability: a job that runs out of space fails
with a readable reason and leaves no temporary file and no half version; every pointer and
history change is fsynced, file and folder.

The full disk is a real one: a 2 MB tmpfs mounted on MODEL_DIR (this needs root or
CAP_SYS_ADMIN). Where mounts are refused, each scenario runs in a child process whose
RLIMIT_FSIZE makes every write past a size fail with EFBIG, as a full quota would.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from backend.errors import StoreFull
from backend.redis_store import AnnotationChanges
from backend.settings import Settings
from backend.store import STAGING_PREFIX, ModelStore
from backend.store_files import write_atomically
from backend.tools.payloads import start_training
from backend.training.run import run_training
from backend.training.worker import run_worker
from backend.version_record import VersionRecord
from backend.web.app import create_app
from tests.conftest import REPO
from tests.test_lifecycle import Annotated, served_version
from tests.test_store_races import in_process_worker_env
from tests.test_training_loop import webhook
from tests.texts import synthetic_reviews

PROJECT = 1
TMPFS_SIZE = 2 * 1024 * 1024


def mount_tmpfs(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
    )
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB file system for MODEL_DIR; skipped (the RLIMIT tests run instead) where
    mounting is refused."""
    folder = tmp_path / "small-disk"
    if not mount_tmpfs(folder):
        pytest.skip("mount -t tmpfs refused (not root?): the RLIMIT_FSIZE tests stand in")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` up to `leave` bytes free (in whole pages)."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while os.write(handle, b"\0" * 65536):
            pass
    except OSError:  # full
        pass
    finally:
        os.close(handle)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def leftovers(root: Path) -> list[str]:
    """Temporary files and staging folders or locks anywhere in the store."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(STAGING_PREFIX)
    )


def test_a_full_disk_fails_the_job_with_the_reason_and_leaves_nothing_behind(
    env: dict[str, str], redis: Redis, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_env = {
        **env,
        "MODEL_DIR": str(small_disk / "models"),
        "TRAIN_MIN_ANNOTATIONS": "100000",
        "TRAIN_EVERY_CHANGES": "100000",
    }
    in_process_worker_env(monkeypatch, store_env)
    settings = Settings.from_env(store_env)
    client = create_app(settings).test_client()
    store = ModelStore(settings.model_dir)
    Annotated(client, synthetic_reviews(30, seed=17))
    served = run_training(settings, redis, PROJECT)["version"]
    history = store.history(PROJECT)
    fill(small_disk, leave=16 * 1024)  # room for a pointer, not for a model
    AnnotationChanges(redis).add(PROJECT, 3)

    job_id = webhook(client, start_training(PROJECT))["job_id"]
    run_worker(settings, burst=True)
    job = client.get(f"/jobs/{job_id}").json
    assert job["status"] == "failed", job
    assert "StoreFull: no space left in the model store (MODEL_DIR)" in job["error"], job
    assert f"nothing was published and {served} keeps serving" in job["error"]
    assert str(small_disk) not in job["error"]  # no filesystem path in an answer
    assert store.versions(PROJECT) == [served] and store.current_version(PROJECT) == served
    assert store.history(PROJECT) == history
    assert leftovers(store.root) == []
    assert served_version(client) == served
    assert AnnotationChanges(redis).take(PROJECT) == 3  # given back for the next run


def test_a_disk_full_at_the_pointer_leaves_the_store_as_it_was(small_disk: Path) -> None:
    """The version fits, its record too, but not the pointer or the history after it."""
    store = ModelStore(small_disk / "models")
    with store.staging(PROJECT) as staged:
        (staged / "weights.bin").write_bytes(b"w" * 10_000)
        first = store.publish(PROJECT, staged, VersionRecord())
    history = store.history(PROJECT)
    with pytest.raises(StoreFull, match="no space left"), store.staging(PROJECT) as staged:
        (staged / "weights.bin").write_bytes(b"w" * 10_000)
        fill(small_disk, leave=4096)  # one page: version.json, then nothing
        store.publish(PROJECT, staged, VersionRecord(champion=first), compare_and_swap=True)
    assert store.versions(PROJECT) == [first] and store.current_version(PROJECT) == first
    assert store.history(PROJECT) == history
    assert leftovers(store.root) == []


def test_write_atomically_on_a_full_disk_keeps_the_file_and_leaves_no_temporary(
    small_disk: Path,
) -> None:
    pointer = small_disk / "current"
    pointer.write_text("v1-20260101T000000")
    fill(small_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(pointer, "v2-20260101T000000" + "x" * 8192)
    assert pointer.read_text() == "v1-20260101T000000"
    assert sorted(p.name for p in small_disk.iterdir()) == ["current", "filler"]


RLIMITED = """
import resource, signal, sys
from pathlib import Path
from backend.errors import StoreFull
from backend.store import ModelStore
from backend.version_record import VersionRecord
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as Python does: a write past it gets EFBIG
store = ModelStore(Path(sys.argv[1]))
with store.staging(1) as staged:
    (staged / "weights.bin").write_bytes(b"w" * 1000)
    first = store.publish(1, staged, VersionRecord())
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    with store.staging(1) as staged:
        (staged / "weights.bin").write_bytes(b"w" * 100_000)
        store.publish(1, staged, VersionRecord(champion=first), compare_and_swap=True)
except StoreFull as error:
    print("StoreFull:", error)
"""


def test_a_write_past_the_file_size_limit_is_a_full_store_too(tmp_path: Path) -> None:
    """Without mounts: RLIMIT_FSIZE in a child process, the way a quota fails a write."""
    root = tmp_path / "models"
    result = subprocess.run(
        [sys.executable, "-c", RLIMITED, str(root)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert "StoreFull: no space left in the model store" in result.stdout, result.stderr
    store = ModelStore(root)
    assert len(store.versions(PROJECT)) == 1
    assert leftovers(root) == []
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY  # ours


def test_publish_and_activate_fsync_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store = ModelStore(tmp_path)
    with store.staging(PROJECT) as staged:
        (staged / "weights.bin").write_text("w")
        first = store.publish(PROJECT, staged, VersionRecord())
    project, versions = str(store.project_dir(PROJECT)), str(store.versions_dir(PROJECT))
    # the staged files and folder, the rename into versions/, the pointer and history
    assert any(p.endswith("/weights.bin") for p in synced)
    assert synced.count(versions) >= 1 and synced.count(project) >= 2
    assert any(p.endswith(".tmp") for p in synced)  # the replacement, before its rename
    synced.clear()
    store.activate(PROJECT, first, "by hand")
    assert synced.count(project) == 2  # the pointer's folder, the history's folder
