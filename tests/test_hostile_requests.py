"""What a request can send, malformed or hostile, through the Flask app on a real Redis:
each gets a JSON 4xx that says what and how to fix it, never a 500, and changes nothing."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from redis import Redis
from rq import Queue

from backend.redis_store import AnnotationChanges, ProjectConfigs, WebhookAnnotations
from backend.settings import Settings
from backend.tools.payloads import annotation_webhook, predict_body, setup_body, task
from backend.training.queue import QUEUE_NAME
from backend.web.app import create_app
from tests.conftest import SENTIMENT_CONFIG

DEEP_LIST = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
SURROGATE_CONFIG = '{"project": "1.1", "schema": "<View>\\ud800<Text name=\\"t\\"/></View>"}'


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


CREDENTIALS = basic("ls", "s3cret")


@pytest.fixture
def auth_client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({**env, "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret"})
    return create_app(settings).test_client()


def refused(response, status: int = 400, says: str = "") -> dict:  # type: ignore[no-untyped-def]
    """The JSON error of a refused request, checked for what every error carries."""
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json
    assert set(error) == {"error", "message", "fix", "error_id"} and error["fix"], error
    assert says in error["message"] + " " + error["fix"], error
    return error


MALFORMED_IDS = {
    "superscript": ("²", "not a Label Studio project id"),
    "arabic-digit": ("٣", "project"),
    "4301-digits": ("1" * 4301, "18 digits"),
    "300-digits": ("1" * 300, "18 digits"),
    "26-digits": ("1" * 26, "18 digits"),
    "bool": (True, "project"),
    "zero": (0, "project"),
}


@pytest.mark.parametrize(("project", "says"), MALFORMED_IDS.values(), ids=MALFORMED_IDS.keys())
def test_malformed_project_ids_are_a_400_everywhere(  # type: ignore[no-untyped-def]
    auth_client, redis: Redis, project: object, says: str
) -> None:
    webhook = {"action": "ANNOTATION_CREATED", "project": {"id": project}}
    refused(auth_client.post("/webhook", json=webhook), says=says)  # without credentials
    requests = [
        ("/setup", setup_body(1, SENTIMENT_CONFIG) | {"project": project}),
        ("/predict", predict_body(1, [task("x")], SENTIMENT_CONFIG) | {"project": project}),
        ("/webhook", {"action": "START_TRAINING", "project": project}),
    ]
    for path, body in requests:
        refused(auth_client.post(path, json=body, headers=CREDENTIALS), says=says)
    for path in ("/versions", "/jobs"):
        query = {"project": str(project)}
        refused(auth_client.get(path, query_string=query, headers=CREDENTIALS), says=says)
    assert Queue(QUEUE_NAME, connection=redis).count == 0 and redis.keys("lsbert:project:*") == []


def test_an_eighteen_digit_project_id_is_still_one(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/setup", json=setup_body(10**17 + 3, SENTIMENT_CONFIG))
    assert answer.json == {"model_version": "untrained"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"action": "ANNOTATIONS_DELETED", "project": 1, "annotations": 5}, "must be a list"),
        ({"action": "ANNOTATIONS_DELETED", "project": 1, "annotations": {"id": 1}}, "list"),
        ({"action": "ANNOTATION_CREATED", "project": 1, "annotation": [], "task": {}}, "objects"),
        ({"action": "ANNOTATION_CREATED", "project": 1, "annotation": {}, "task": 3}, "objects"),
        ({"action": 5, "project": 1}, "no action"),
        ({"action": ["START_TRAINING"], "project": 1}, "no action"),
        ({"action": "START_TRAINING", "project": [1]}, "project"),
    ],
)
def test_webhook_parts_of_the_wrong_type_are_a_400(client, body: dict, says: str) -> None:  # type: ignore[no-untyped-def]
    refused(client.post("/webhook", json=body), says=says)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda b: b["annotation"].update(id="abc"), "annotation.id is not a whole number"),
        (lambda b: b["annotation"].update(id=True), "annotation.id"),
        (lambda b: b["task"].update(id="7"), "task.id is not a whole number"),
        (lambda b: b["task"].update(data="a text"), "task.data is not an object"),
        (lambda b: b["annotation"].update(result={"x": 1}), "annotation.result is not a list"),
    ],
    ids=["annotation-id-text", "annotation-id-bool", "task-id-text", "data-text", "result-dict"],
)
def test_an_annotation_a_run_could_not_read_is_never_stored(  # type: ignore[no-untyped-def]
    client, redis: Redis, change, says: str
) -> None:
    body = annotation_webhook(2, task("a fine film"), ["Positive"])
    change(body)
    refused(client.post("/webhook", json=body), says=says)
    assert WebhookAnnotations(redis).tasks(2) == []


def test_deleted_annotations_with_odd_ids_delete_only_real_ones(client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    client.post("/webhook", json=annotation_webhook(3, task("kept"), ["Positive"], annotation_id=4))
    odd = [{"id": [4]}, {"id": {"a": 1}}, {"id": "4"}, 7, None, {"id": 99}]
    body = {"action": "ANNOTATIONS_DELETED", "project": 3, "annotations": odd}
    assert client.post("/webhook", json=body).json["payload_stored"] is True
    assert [t["data"]["text"] for t in WebhookAnnotations(redis).tasks(3)] == ["kept"]


@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook"])
@pytest.mark.parametrize(
    "deep",
    [DEEP_LIST, DEEP_OBJECT, "[" * 70 + "]" * 70],
    ids=["1000-lists", "1000-objects", "70-lists"],
)
def test_json_nested_deep_is_a_400_not_a_recursion_error(client, path: str, deep: str) -> None:  # type: ignore[no-untyped-def]
    body = deep if deep.startswith("{") else '{"project": 1, "tasks": ' + deep + "}"
    response = client.post(path, data=body, content_type="application/json")
    refused(response, says="levels deep")


def test_a_lone_surrogate_in_a_label_config_is_refused_before_it_is_stored(  # type: ignore[no-untyped-def]
    client, redis: Redis
) -> None:
    response = client.post("/setup", data=SURROGATE_CONFIG, content_type="application/json")
    refused(response, says="not valid Unicode")
    webhook = json.dumps(annotation_webhook(4, task("x"), ["Positive"]))
    webhook = webhook.replace('"title": "lsbert"', '"label_config": "<View>\\udfff</View>"')
    refused(client.post("/webhook", data=webhook, content_type="application/json"))
    assert ProjectConfigs(redis).get(1) is None and ProjectConfigs(redis).get(4) is None
    assert WebhookAnnotations(redis).tasks(4) == []


def test_a_label_config_of_the_wrong_type_says_so(client) -> None:  # type: ignore[no-untyped-def]
    body = setup_body(1, SENTIMENT_CONFIG) | {"schema": {"View": []}}
    refused(client.post("/setup", json=body), says="is a dict, not XML text")


ODD_CREDENTIALS = {
    "non-ascii-user": basic("é", "ü"),
    "non-ascii-password": basic("ls", "s3crét"),
    "latin1-token": {"Authorization": "Basic " + "\u00ff" * 8},
    "not-base64": {"Authorization": "Basic !!!"},
    "bearer": {"Authorization": "Bearer x"},
}


@pytest.mark.parametrize("header", ODD_CREDENTIALS.values(), ids=ODD_CREDENTIALS.keys())
def test_odd_credentials_are_refused_and_health_stays_open(auth_client, header: dict) -> None:  # type: ignore[no-untyped-def]
    assert auth_client.get("/health", headers=header).json["status"] == "UP"
    refused(auth_client.get("/jobs", headers=header), 401, says="basic auth")


def test_non_ascii_credentials_work_when_they_are_the_right_ones(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, "BASIC_AUTH_USER": "étiqueteur", "BASIC_AUTH_PASS": "clé"})
    client = create_app(settings).test_client()
    assert client.get("/jobs", headers=basic("étiqueteur", "clé")).status_code == 200
    refused(client.get("/jobs", headers=basic("étiqueteur", "cle")), 401)


@pytest.mark.parametrize("limit", ["²", "٣", "1" * 5000, "0", "-1", "1.5", " "])
def test_a_job_limit_that_is_not_ascii_digits_is_a_400(client, limit: str) -> None:  # type: ignore[no-untyped-def]
    refused(client.get("/jobs", query_string={"limit": limit}), says="whole number from 1 to 500")


@pytest.mark.parametrize("job_id", ["x\n2026-01-01 ERROR forged", "a:b", "é", "x" * 200])
def test_a_job_id_rq_would_refuse_is_a_400(client, job_id: str) -> None:  # type: ignore[no-untyped-def]
    refused(client.get(f"/jobs/{quote(job_id, safe='')}"), says="job id")


@pytest.mark.parametrize(
    "version", ["v1-20261122T101500\n", "v1", "latest", "current", "-v1-20261122T101500"]
)
def test_activating_what_is_not_a_version_name_is_a_400(client, version: str) -> None:  # type: ignore[no-untyped-def]
    path = f"/versions/{quote(version, safe='')}/activate"
    response = client.post(path, query_string={"project": 1})
    refused(response, says="is not a version name")


@pytest.mark.parametrize(
    "body", [[1], "a text", {"reason": {"why": 1}}, {"reason": "x" * 1001}, {"project": [1]}]
)
def test_an_activation_body_that_is_not_one_is_a_400(client, body: object) -> None:  # type: ignore[no-untyped-def]
    query = "" if isinstance(body, dict) and "project" in body else "?project=1"
    response = client.post(f"/versions/v1-20261122T101500/activate{query}", json=body)
    refused(response)


def test_start_training_needs_credentials_when_basic_auth_is_on(  # type: ignore[no-untyped-def]
    auth_client, redis: Redis
) -> None:
    queue = Queue(QUEUE_NAME, connection=redis)
    for full in (False, True):
        body = {"action": "START_TRAINING", "project": {"id": 12}, "full_retrain": full}
        error = refused(auth_client.post("/webhook", json=body), 401, says="START_TRAINING")
        assert "Label Studio" in error["fix"]
    assert queue.count == 0 and not AnnotationChanges(redis).take_full_request(12)
    # annotation events without credentials still count towards the next run, as before
    event = annotation_webhook(12, task("fine"), ["Positive"])
    assert auth_client.post("/webhook", json=event).json["status"] == "queued"
    assert queue.count == 1 and WebhookAnnotations(redis).tasks(12) == []
    body = {"action": "START_TRAINING", "project": {"id": 12}, "full_retrain": True}
    signed = auth_client.post("/webhook", json=body, headers=CREDENTIALS).json
    assert signed["status"] == "coalesced" and AnnotationChanges(redis).take_full_request(12)


def test_start_training_needs_no_credentials_without_basic_auth(client, redis: Redis) -> None:  # type: ignore[no-untyped-def]
    body = {"action": "START_TRAINING", "project": {"id": 13}, "full_retrain": True}
    assert client.post("/webhook", json=body).json["status"] == "queued"
    assert AnnotationChanges(redis).take_full_request(13)
