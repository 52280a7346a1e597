"""Label Studio's ML backend protocol: /health, /setup, /predict and /webhook, plus /metrics.
(`GET /versions`, which Label Studio reads too, is in backend.web.version_routes; `GET /`
asked for by a browser is the operator's page, backend.web.pages.)"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, make_response

from backend.errors import BadRequest
from backend.label_config import parse_label_config
from backend.prediction_results import Deadline, predict_tasks
from backend.store import UNTRAINED, project_id
from backend.web.pages import overview_page, wants_html
from backend.web.request_body import json_body
from backend.web.services import services
from backend.web.suggestions import drawn_regions, suggest
from backend.web.webhooks import handle_webhook

blueprint = Blueprint("protocol", __name__)
MODEL_CLASS = "lsbert.TextClassifier"


@blueprint.get("/")
def root() -> Response:
    """Label Studio's health check, or, for a browser, the list of projects."""
    response = make_response(overview_page() if wants_html() else health())
    response.vary.add("Accept")  # one address, two answers: caches must keep them apart
    return response


@blueprint.get("/health")
def health() -> Response:
    settings = services().settings
    return jsonify(status="UP", model_class=MODEL_CLASS, training_source=settings.training_source)


@blueprint.post("/setup")
def setup() -> Response:
    body = json_body()
    project = project_id(body.get("project"))
    schema = body.get("schema") or body.get("label_config")
    parse_label_config(schema)  # refuses, with the reason, a config we cannot predict
    shared = services()
    shared.remember_config(project, str(schema))
    shared.cache.preload(project)
    shared.push_if_missing(project)
    return jsonify(model_version=shared.store.current_version(project) or UNTRAINED)


@blueprint.post("/predict")
def predict() -> Response:
    body = json_body()
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise BadRequest("'tasks' must be a list of tasks", 'send {"tasks": [{"data": {...}}]}')
    shared = services()
    project = project_id(body.get("project") or first_task_project(tasks))
    schema = body.get("label_config") or shared.configs.get(project)
    if not schema:
        raise BadRequest(
            f"no label config for project {project}",
            "send 'label_config' with the tasks, as Label Studio does",
        )
    config = parse_label_config(schema)
    timeout = shared.settings.web_timeout
    deadline = Deadline(g.started + timeout, timeout)
    loaded = shared.cache.get(project)
    params = body.get("params")
    regions = drawn_regions(params.get("context") if isinstance(params, dict) else None)
    with shared.slots.turn():
        if regions and len(tasks) == 1 and isinstance(tasks[0], dict):
            # interactive pre-annotation: suggestions around the regions just drawn
            results = [suggest(tasks[0], config, loaded, regions, shared.tokens, project)]
        else:
            results = predict_tasks(tasks, config, loaded, shared.reading, deadline)
    shared.metrics.add("lsbert_predicted_tasks_total", len(tasks))
    shared.metrics.add("lsbert_prediction_results_total", sum(len(r["result"]) for r in results))
    return jsonify(results=results, model_version=loaded.version if loaded else UNTRAINED)


def first_task_project(tasks: list) -> object:
    first = tasks[0] if tasks and isinstance(tasks[0], dict) else {}
    return first.get("project")


@blueprint.post("/webhook")
def webhook() -> Response:
    return jsonify(handle_webhook(json_body(), services(), g.authenticated))


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(services().metrics.render(), mimetype="text/plain; version=0.0.4")
