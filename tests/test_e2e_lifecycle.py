"""Issue 4's acceptance scenario against a real Label Studio 1.23.2 and the bundled MiniLM:
a good version serves; 50 tasks re-annotated with wrong labels train a challenger that is
rejected while Label Studio keeps the good version; an honest round is warm-started and
accepted. `/versions` explains every step."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from backend.training.holdout import is_held_out
from tests.conftest import SENTIMENT_CONFIG, Serve, wait_for
from tests.label_studio_server import LabelStudioClient, LabelStudioServer
from tests.studio_flow import import_texts, sentiment, wait_for_version_trained_on
from tests.test_e2e_label_studio import ONLY_START_TRAINING, backend_env
from tests.texts import sample, sst2

pytestmark = pytest.mark.slow
FLIP = {"Positive": "Negative", "Negative": "Positive"}
HOLDOUT_SHARE = 0.1  # the default


def project_versions(serve: Serve, project: int) -> dict:
    return requests.get(f"{serve.url}/versions", params={"project": project}, timeout=5).json()


def wait_for_new_version(serve: Serve, project: int, known: int, timeout: float) -> dict:
    """The newest version's details once there are more than `known` versions."""

    def appeared() -> dict | None:
        listing = project_versions(serve, project)
        return listing["details"][0] if len(listing["versions"]) > known else None

    return wait_for(appeared, timeout, interval=1, message=serve.log.read_text()[-4000:])


def served_by_label_studio(client: LabelStudioClient, backend: int) -> str:
    return client.get_ml_backend(backend)["model_version"]


def test_poisoned_round_is_rejected_and_an_honest_warm_round_accepted(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    rows = sample(sst2("train"), 300, seed=404)
    client = label_studio.client("pat")
    # tolerance 5 points: the 10-15 held-out tasks make one task worth 7-10 points, so
    # with 1 point an honest model that differs on a single task would be refused too
    env = backend_env(
        label_studio,
        label_studio.personal_access_token,
        tmp_path,
        GATE_TOLERANCE="0.05",
        **ONLY_START_TRAINING,
    )
    serve = Serve(env, tmp_path / "serve.log")
    models = Path(env["MODEL_DIR"])
    try:
        project = client.create_project("lifecycle e2e", SENTIMENT_CONFIG)["id"]
        ids = import_texts(client, project, [text for text, _ in rows])
        backend = client.connect_ml_backend(project, serve.url, title="lsbert")["id"]
        first_round, second_round = rows[:100], rows[100:150]
        annotation = {
            text: client.create_annotation(ids[text], sentiment(label))["id"]
            for text, label in first_round
        }
        pressed = time.monotonic()
        client.train(backend)
        good = wait_for_version_trained_on(models, project, 100, 600, serve.log)
        full_seconds = time.monotonic() - pressed
        assert served_by_label_studio(client, backend) == good["version"]

        training_side = [
            (text, label)
            for text, label in first_round
            if not is_held_out(project, ids[text], HOLDOUT_SHARE)
        ]
        poisoned = training_side[:50]
        for text, label in poisoned:
            client.update_annotation(annotation[text], sentiment(FLIP[label]))
        client.train(backend)
        rejected = wait_for_new_version(serve, project, 1, 600)
        assert rejected["status"] == "rejected" and rejected["accepted"] is False
        assert "below the current version's" in rejected["reason"]
        assert served_by_label_studio(client, backend) == good["version"]
        assert project_versions(serve, project)["current"] == good["version"]

        for text, label in poisoned:
            client.update_annotation(annotation[text], sentiment(label))
        for text, label in second_round:
            client.create_annotation(ids[text], sentiment(label))
        pressed = time.monotonic()
        client.train(backend)
        honest = wait_for_new_version(serve, project, 2, 600)
        warm_seconds = time.monotonic() - pressed
        assert honest["status"] == "current" and honest["accepted"] is True, honest["reason"]
        control = honest["controls"][0]
        assert control["start"] == "warm"
        assert control["training_annotations"] + control["held_out_tasks"] == 150
        assert served_by_label_studio(client, backend) == honest["version"]

        figures = [
            f"{d['version']} {d['status']}: {c['start']} start, {c['training_annotations']} "
            f"trained, {c['metric']} {c['value']} on {c['held_out_tasks']} held out, "
            f"{d['training_seconds']} s; {d['reason']}"
            for d in project_versions(serve, project)["details"]
            for c in d["controls"]
        ]
        print(
            f"\nlifecycle e2e: full run served {full_seconds:.1f} s after Start training, "
            f"warm run {warm_seconds:.1f} s\n" + "\n".join(figures)
        )
    finally:
        serve.stop()
