import json
import os
from pathlib import Path

import pytest

from backend.errors import BadRequest
from backend.store import ModelStore, project_id
from backend.version_record import VersionRecord


def publish(store: ModelStore, project: int, content: str) -> str:
    with store.staging(project) as staged:
        (staged / "weights.bin").write_text(content)
        return store.publish(project, staged, VersionRecord(extra={"note": content}))


def test_versions_are_numbered_and_the_pointer_moves(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    assert store.current_version(7) is None
    first = publish(store, 7, "one")
    second = publish(store, 7, "two")
    assert first.startswith("v1-") and second.startswith("v2-")
    assert store.current_version(7) == second
    assert store.versions(7) == [first, second]
    # the older version is untouched: versions are immutable
    assert (store.version_dir(7, first) / "weights.bin").read_text() == "one"
    assert store.read_raw_version(7, second)["note"] == "two"


def test_a_failed_write_leaves_no_version_and_the_pointer_alone(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    good = publish(store, 1, "good")
    with pytest.raises(RuntimeError), store.staging(1) as staged:
        (staged / "weights.bin").write_text("half")
        raise RuntimeError("killed while writing")
    assert store.current_version(1) == good
    assert store.versions(1) == [good]
    assert os.listdir(store.versions_dir(1)) == [good]


def test_staging_left_by_a_killed_writer_is_cleaned_on_next_publish(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    abandoned = store.versions_dir(2) / ".staging-dead"
    abandoned.mkdir(parents=True)
    version = publish(store, 2, "x")
    assert not abandoned.exists()
    assert json.loads((store.version_dir(2, version) / "version.json").read_text())["project"] == 2


def test_pointer_to_a_missing_folder_means_no_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.project_dir(3).mkdir(parents=True)
    (store.project_dir(3) / "current").write_text("v9-20260101T000000")
    assert store.current_version(3) is None


@pytest.mark.parametrize("value", ["3", 3, "3.1700000000"])
def test_project_ids_as_label_studio_sends_them(value: object) -> None:
    assert project_id(value) == 3


@pytest.mark.parametrize("value", [None, "", "../etc", "0", "abc.1", -1])
def test_bad_project_ids_are_refused(value: object) -> None:
    with pytest.raises(BadRequest, match="project"):
        project_id(value)
