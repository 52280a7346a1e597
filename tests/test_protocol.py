"""The HTTP protocol, through the Flask app, against a real Redis."""

from __future__ import annotations

import base64
import time

import pytest
from redis import Redis

from backend.redis_store import WebhookAnnotations
from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, predict_body, setup_body, task
from backend.training.queue import training_queue
from backend.training.run import run_training
from backend.web.app import create_app
from tests.conftest import MULTI_CONFIG, SENTIMENT_CONFIG
from tests.texts import synthetic_reviews

PROJECT = 5


def post(client, path: str, body: object, **kwargs):  # type: ignore[no-untyped-def]
    return client.post(path, json=body, **kwargs)


def annotate(client, project: int, rows: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    for text, label in rows:
        body = annotation_webhook(project, task(text), [label], label_config=SENTIMENT_CONFIG)
        assert post(client, "/webhook", body).json["payload_stored"] is True


@pytest.fixture
def trained_version(client, settings: Settings, redis: Redis) -> str:  # type: ignore[no-untyped-def]
    """A project with a model trained in-process (the worker is tested elsewhere)."""
    annotate(client, PROJECT, synthetic_reviews(60, seed=3))
    return run_training(settings, redis, PROJECT)["version"]


def test_health_is_open_and_says_where_training_data_comes_from(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/health")
    assert response.json == {
        "status": "UP",
        "model_class": "lsbert.TextClassifier",
        "training_source": "webhooks",
    }


def test_setup_before_training_answers_untrained(client) -> None:  # type: ignore[no-untyped-def]
    response = post(client, "/setup", setup_body(PROJECT, SENTIMENT_CONFIG))
    assert response.json == {"model_version": "untrained"}


def test_predict_before_training_gives_one_empty_item_per_task(client) -> None:  # type: ignore[no-untyped-def]
    tasks = [task("a fine film"), task(None), task("dull")]
    response = post(client, "/predict", predict_body(PROJECT, tasks, SENTIMENT_CONFIG))
    assert response.json["results"] == [{"result": [], "model_version": "untrained"}] * 3


def test_after_training_setup_and_predict_serve_the_new_version(  # type: ignore[no-untyped-def]
    client, trained_version: str
) -> None:
    assert post(client, "/setup", setup_body(PROJECT, SENTIMENT_CONFIG)).json == {
        "model_version": trained_version
    }
    unseen = synthetic_reviews(40, seed=77)
    unusable = [task("   "), {"not": "a task"}, task("12345", field="other")]
    tasks = [unusable[0], *[task(text) for text, _ in unseen], *unusable[1:]]
    results = post(client, "/predict", predict_body(PROJECT, tasks, SENTIMENT_CONFIG)).json[
        "results"
    ]
    assert len(results) == 43
    assert all(item["model_version"] == trained_version for item in results)
    assert [results[i]["result"] for i in (0, 41, 42)] == [[], [], []]
    answered = [item["result"][0] for item in results[1:41]]
    correct = sum(
        r["value"]["choices"] == [label] for r, (_, label) in zip(answered, unseen, strict=True)
    )
    assert correct >= 36  # 90 % of texts the model never saw
    first = answered[0]
    assert (first["from_name"], first["to_name"], first["type"]) == ("sentiment", "text", "choices")
    assert 0.5 < first["score"] <= 1 and results[1]["score"] == first["score"]


def test_a_changed_label_set_is_not_served_by_the_old_model(  # type: ignore[no-untyped-def]
    client, trained_version: str
) -> None:
    changed = SENTIMENT_CONFIG.replace('<Choice value="Negative"/>', '<Choice value="Mixed"/>')
    results = post(client, "/predict", predict_body(PROJECT, [task("wonderful")], changed)).json
    assert results["results"] == [{"result": [], "model_version": trained_version}]


def test_predict_uses_the_config_from_setup_when_none_is_sent(  # type: ignore[no-untyped-def]
    client, trained_version: str
) -> None:
    post(client, "/setup", setup_body(PROJECT, SENTIMENT_CONFIG))
    body = {"tasks": [task("superb story")], "project": f"{PROJECT}.1"}
    for _ in range(50):  # /setup stores the config in the background
        response = post(client, "/predict", body)
        if response.status_code == 200:
            break
        time.sleep(0.05)
    assert response.json["results"][0]["result"][0]["value"]["choices"] == ["Positive"]


@pytest.mark.parametrize(
    ("path", "body", "code", "says"),
    [
        ("/setup", "not json", "bad_request", "JSON object"),
        ("/predict", [1, 2], "bad_request", "JSON object"),
        ("/predict", {"tasks": "x", "project": "1.2"}, "bad_request", "tasks"),
        ("/predict", {"tasks": [], "project": "abc"}, "bad_request", "project"),
        ("/predict", {"tasks": [{"data": {}}], "project": "77.1"}, "bad_request", "label config"),
        (
            "/setup",
            {"project": "1.2", "schema": "<View><Image name='i' value='$i'/></View>"},
            "unsupported_label_config",
            "Choices",
        ),
        ("/webhook", {"project": {"id": 1}}, "bad_request", "action"),
        ("/webhook", {"action": "START_TRAINING"}, "bad_request", "project"),
        (
            "/webhook",
            {"action": "ANNOTATION_CREATED", "project": {"id": 1}},
            "bad_request",
            "annotation",
        ),
    ],
)
def test_bad_input_gets_a_json_error_saying_what_and_how(  # type: ignore[no-untyped-def]
    client, path: str, body: object, code: str, says: str
) -> None:
    if isinstance(body, str):
        response = client.post(path, data=body, content_type="application/json")
    else:
        response = post(client, path, body)
    assert response.status_code == 400
    assert response.json["error"] == code
    assert says in response.json["message"] + response.json["fix"]
    assert response.json["fix"] and response.json["error_id"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_unknown_routes_and_methods_answer_json(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/nope").json["error"] == "not_found"
    assert client.get("/predict").json["error"] == "method_not_allowed"


def test_webhook_other_actions_are_acknowledged_and_ignored(client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    response = post(client, "/webhook", {"action": "TASKS_CREATED", "project": {"id": 1}})
    assert response.json == {"status": "ignored", "action": "TASKS_CREATED"}
    assert training_queue(redis).count == 0


def test_a_burst_of_webhooks_makes_one_pending_job(client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    answers = [
        post(client, "/webhook", {"action": "START_TRAINING", "project": {"id": 9}}).json
        for _ in range(100)
    ]
    queue = training_queue(redis)
    assert queue.count == 1
    assert answers[0]["status"] == "queued"
    assert {a["status"] for a in answers[1:]} == {"coalesced"}
    assert {a["job_id"] for a in answers} == {queue.job_ids[0]}


def test_deleted_annotations_leave_the_stored_training_data(client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    kept, dropped = task("kept one"), task("dropped one")
    post(client, "/webhook", annotation_webhook(3, kept, ["Positive"], annotation_id=1))
    post(client, "/webhook", annotation_webhook(3, dropped, ["Negative"], annotation_id=2))
    post(
        client,
        "/webhook",
        annotation_webhook(3, kept, ["Negative"], annotation_id=1, action="ANNOTATION_UPDATED"),
    )
    post(
        client,
        "/webhook",
        {"action": "ANNOTATIONS_DELETED", "project": {"id": 3}, "annotations": [{"id": 2}]},
    )
    (stored,) = WebhookAnnotations(redis).tasks(3)
    assert stored["data"] == {"text": "kept one"}
    assert [a["result"][0]["value"]["choices"] for a in stored["annotations"]] == [["Negative"]]


def test_metrics_count_real_events(client) -> None:  # type: ignore[no-untyped-def]
    post(client, "/predict", predict_body(PROJECT, [task("a"), task("b")], SENTIMENT_CONFIG))
    post(client, "/webhook", {"action": "START_TRAINING", "project": {"id": 4}})
    post(client, "/webhook", {"action": "START_TRAINING", "project": {"id": 4}})
    text = client.get("/metrics").get_data(as_text=True)
    assert "lsbert_predicted_tasks_total 2" in text
    assert 'lsbert_training_requests_total{outcome="coalesced"} 1' in text
    assert 'lsbert_training_requests_total{outcome="queued"} 1' in text
    assert 'lsbert_http_requests_total{route="/predict",status="200"} 1' in text


def test_redis_down_gives_a_json_503_and_health_stays_up(settings: Settings) -> None:
    dead = Settings.from_env(
        {"REDIS_URL": "redis://127.0.0.1:1/0", "MODEL_DIR": str(settings.model_dir)}
    )
    client = create_app(dead).test_client()
    response = post(client, "/webhook", {"action": "START_TRAINING", "project": {"id": 1}})
    assert response.status_code == 503
    assert response.json["error"] == "queue_unavailable" and "REDIS_URL" in response.json["fix"]
    assert client.get("/health").json["status"] == "UP"
    assert post(client, "/setup", setup_body(1, SENTIMENT_CONFIG)).json == {
        "model_version": "untrained"
    }


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def auth_client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({**env, "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret"})
    return create_app(settings).test_client()


def test_basic_auth_guards_everything_but_health(auth_client) -> None:  # type: ignore[no-untyped-def]
    assert auth_client.get("/health").status_code == 200
    denied = post(auth_client, "/setup", setup_body(1, SENTIMENT_CONFIG))
    assert denied.status_code == 401 and denied.json["error"] == "unauthorized"
    assert "basic auth" in denied.json["fix"]
    assert auth_client.get("/metrics").status_code == 401
    wrong = post(auth_client, "/setup", setup_body(1, SENTIMENT_CONFIG), headers=basic("ls", "x"))
    assert wrong.status_code == 401
    ok = post(auth_client, "/setup", setup_body(1, SENTIMENT_CONFIG), headers=basic("ls", "s3cret"))
    assert ok.json == {"model_version": "untrained"}


def test_webhooks_without_credentials_are_triggers_only(auth_client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    body = annotation_webhook(8, task("poisoned text"), ["Positive"], label_config=SENTIMENT_CONFIG)
    anonymous = post(auth_client, "/webhook", body).json
    assert anonymous["status"] == "queued" and anonymous["payload_stored"] is False
    assert WebhookAnnotations(redis).tasks(8) == []
    signed = post(auth_client, "/webhook", body, headers=basic("ls", "s3cret")).json
    assert signed["payload_stored"] is True and len(WebhookAnnotations(redis).tasks(8)) == 1


def test_in_api_mode_webhook_payloads_are_never_stored(env: dict[str, str], redis: Redis) -> None:
    settings = Settings.from_env(
        {**env, "LABEL_STUDIO_URL": "http://127.0.0.1:1", "LABEL_STUDIO_API_KEY": "key"}
    )
    client = create_app(settings).test_client()
    answer = post(client, "/webhook", annotation_webhook(6, task("x"), ["Positive"])).json
    assert answer["training_source"] == "label-studio-api" and answer["payload_stored"] is False
    assert WebhookAnnotations(redis).tasks(6) == []


def test_multi_label_predictions(client, settings: Settings, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    for text, label in synthetic_reviews(60, seed=4):
        topics = ["Culture"] + (["Business"] if label == "Positive" else [])
        body = annotation_webhook(11, task(text), [], label_config=MULTI_CONFIG)
        body["annotation"]["result"] = [
            {
                "from_name": "topics",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": topics},
            }
        ]
        post(client, "/webhook", body)
    version = run_training(settings, redis, 11)["version"]
    results = post(
        client, "/predict", predict_body(11, [task("wonderful music")], MULTI_CONFIG)
    ).json
    (item,) = results["results"]
    assert item["model_version"] == version
    assert set(item["result"][0]["value"]["choices"]) == {"Culture", "Business"}
