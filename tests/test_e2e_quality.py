"""Label quality against a real Label Studio 1.23.2, on the tiny BERT and texts it learns.

A first version trains on 50 honest annotations; Label Studio stores its predictions
(Retrieve predictions, as the model_version the backend serves); 30 more tasks are
annotated from them as its editor records it (`parent_prediction`, each region's
`origin`): accepted unchanged, changed, replaced, four of them deliberately wrong, and a
second annotator answers some tasks too. After the next run, `/quality`'s agreement equals
what this test computes on its own from Label Studio's export, the wrong labels top the
queue, Label Studio's *Suspect labels* tab lists them in that order, and no task's data
changed but for the one documented key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import ONLY_START_TRAINING, SENTIMENT_CONFIG, StudioBackend, wait_for
from tests.studio_flow import import_texts, sentiment, wait_for_version_trained_on
from tests.texts import synthetic_reviews

pytestmark = pytest.mark.slow
FLIP = {"Positive": "Negative", "Negative": "Positive"}
KEY = "lsbert_suspect_rank"


def made_from(label: str, origin: str, prediction: dict) -> dict:
    result = sentiment(label)
    result[0]["origin"] = origin
    return {"result": result, "parent_prediction": prediction["id"]}


def expected_outcomes(export: list[dict], predictions: dict[int, dict]) -> dict[tuple, str]:
    """Independently of the backend: (task, annotation) -> outcome, from the export. An
    annotation was made from its `parent_prediction`, or else from the prediction Label
    Studio records as viewed when it was made (its `prediction`: with pushed predictions,
    the served version's, which the second annotator's tasks hold)."""
    found = {}
    for task in export:
        for annotation in task["annotations"]:
            viewed = annotation.get("prediction") or {}
            parent = predictions.get(annotation.get("parent_prediction")) or (
                viewed if viewed.get("result") else None
            )
            if annotation["was_cancelled"] or parent is None:
                continue
            given = annotation["result"][0]["value"]["choices"]
            suggested = parent["result"][0]["value"]["choices"]
            origin = annotation["result"][0].get("origin")
            if given == suggested:
                outcome = "accepted"
            elif origin in ("prediction", "prediction-changed"):
                outcome = "changed"
            elif origin == "manual" or not set(given) & set(suggested):
                outcome = "replaced"
            else:
                outcome = "changed"
            found[(task["id"], annotation["id"])] = (parent["model_version"], outcome)
    return found


def test_agreement_suspects_and_the_label_studio_view(
    studio_backend: Callable[..., StudioBackend], tiny_model: Path
) -> None:
    rows = synthetic_reviews(90, seed=11)
    truth = dict(rows)
    backend_run = studio_backend(
        **ONLY_START_TRAINING,
        BASE_MODEL=str(tiny_model),
        TRAIN_EPOCHS="15",
        TRAIN_LEARNING_RATE="0.003",
        INFERENCE_RUNTIME="torch",
        CROSS_VALIDATION_FOLDS="0",
        QUALITY_MIN_COUNT="1",
        WORKER_TORCH_THREADS="1",
        WEB_TORCH_THREADS="1",
        # the export is checked against v1's predictions after the second run, and the push
        # of v2 deletes them: then no parent_prediction of the export resolves (a race with
        # the test's reads, lost once in five runs and once in CI, with `expected` empty)
        PUSH_KEEP_OLD_PREDICTIONS="true",
    )
    client, serve, models = backend_run.client, backend_run.serve, backend_run.models
    project = client.create_project("quality e2e", SENTIMENT_CONFIG)["id"]
    ids = import_texts(client, project, [text for text, _ in rows])
    imported = {t["id"]: t["data"] for t in client.list_tasks(project)}
    backend = client.connect_ml_backend(project, serve.url, title="lsbert")["id"]
    second = client.json(
        "POST",
        "/api/users/",
        json={"email": "second@example.com", "username": "second", "password": "second-pass-1"},
    )["id"]
    # the first annotator got one wrong that the second puts right (the newest counts)
    for text, label in rows[:50]:
        client.create_annotation(ids[text], sentiment(FLIP[label] if text == rows[0][0] else label))
    client.train(backend)
    first = wait_for_version_trained_on(models, project, 50, 300, serve.log)["version"]

    client.retrieve_predictions(project)
    shown = {
        p["task"]: p
        for p in client.list_predictions(project=project)
        if p["model_version"] == first
    }
    wrong: list[int] = []
    for number, (text, label) in enumerate(rows[50:80]):
        task, prediction = ids[text], shown[ids[text]]
        suggested = prediction["result"][0]["value"]["choices"][0]
        if suggested != label:  # the model was wrong: put right, by editing or anew
            origin = "prediction-changed" if number % 2 else "manual"
            client.create_annotation(task, **made_from(label, origin, prediction))
        elif len(wrong) < 4:  # a right prediction changed to a wrong label
            origin = "prediction-changed" if len(wrong) % 2 else "manual"
            client.create_annotation(task, **made_from(FLIP[label], origin, prediction))
            wrong.append(task)
        else:
            client.create_annotation(task, **made_from(label, "prediction", prediction))
    for text, label in rows[:6]:  # a second annotator, disagreeing once
        client.create_annotation(ids[text], sentiment(label), completed_by=second)

    client.train(backend)

    def report() -> dict | None:
        answer = requests.get(f"{serve.url}/quality", params={"project": project}, timeout=5)
        found = answer.json() if answer.status_code == 200 else None
        return found if found and found["version"] != first else None

    quality = wait_for(report, 300, interval=1, message=serve.log.read_text()[-4000:])

    # the agreement, to the task, against the export and Label Studio's predictions
    export = client.export(project)
    listed = {p["id"]: p for p in client.list_predictions(project=project)}
    expected = expected_outcomes(export, listed)
    served = {
        (a["task"], a["annotation"]): (a["version"], a["outcome"])
        for a in quality["agreement"]["annotations"]
    }
    # the 30 made from v1's predictions, and those of the second annotator that Label
    # Studio records as made with one in view (when its prediction had reached the task)
    assert served == expected
    assert {ids[text] for text, _ in rows[50:80]} <= {task for task, _ in served}
    counts = Counter(outcome for _, outcome in expected.values())
    assert counts["accepted"] and counts["changed"] and counts["replaced"]
    figures = quality["agreement"]["controls"]["sentiment"]["versions"][first]
    assert {o: figures[o]["count"] for o in counts} == dict(counts)
    rates = figures["precision_recall"]["per_label"]
    finals = {t["id"]: t["annotations"][-1]["result"][0]["value"]["choices"][0] for t in export}
    for label in ("Positive", "Negative"):
        said = [t for (t, _) in expected if listed_choice(shown[t]) == label]
        assert rates[label]["predicted"] == len(said)
        assert rates[label]["hits"] == sum(finals[t] == label for t in said)
    between = quality["agreement"]["controls"]["sentiment"]["between_annotators"]
    assert between["tasks"] == 6 and between["pairs"] == 6
    assert between["agreement"] == round(5 / 6, 4)

    # the deliberately wrong labels top the queue
    queue = [e["task"] for e in quality["suspects"]]
    assert set(queue[: len(wrong)]) == set(wrong), quality["suspects"][:8]
    top = quality["suspects"][0]
    assert top["given"] == [FLIP[truth[imported[top["task"]]["text"]]]]
    assert top["suggested"] == [truth[imported[top["task"]]["text"]]]

    # Label Studio's tab shows the suspects, most suspect first
    marked = quality["label_studio"]
    views = client.json("GET", "/api/dm/views", params={"project": project})
    view = next(v for v in views if v["data"]["title"] == "Suspect labels")
    assert view["id"] == marked["view"]
    in_view = client.json("GET", "/api/tasks", params={"view": view["id"], "project": project})
    order = [t["id"] for t in in_view["tasks"]]
    assert order == marked["tasks"] and set(order[: len(wrong)]) == set(wrong)
    assert [t["data"][KEY] for t in in_view["tasks"]] == list(range(1, len(order) + 1))

    # nothing else of any task changed
    for task in client.list_tasks(project):
        data = dict(task["data"])
        rank = data.pop(KEY, None)
        assert data == imported[task["id"]]
        assert (rank is not None) == (task["id"] in order)
    # the marks fired no webhook: the backend heard only of what the test did, and of
    # the project updates its pushes made (the project's model version)
    metrics = requests.get(f"{serve.url}/metrics", timeout=5).text
    heard = {
        line.split('"')[1]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("lsbert_webhooks_total{")
    }
    pushes = heard.pop("PROJECT_UPDATED", 0)
    assert heard == {"ANNOTATION_CREATED": 86, "START_TRAINING": 2} and pushes <= 2, heard


def listed_choice(prediction: dict) -> str:
    return prediction["result"][0]["value"]["choices"][0]
