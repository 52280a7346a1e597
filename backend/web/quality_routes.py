"""`GET /quality?project=N`: the label quality the newest training run measured (the
worker writes it, backend.quality; the web only reads `MODEL_DIR/<project>/quality.json`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from backend.errors import NotFound
from backend.store import project_id
from backend.web.services import services

quality_blueprint = Blueprint("quality", __name__)


@quality_blueprint.get("/quality")
def quality() -> Response:
    project = project_id(request.args.get("project"))
    report = services().store.read_quality(project)
    if report is None:
        raise NotFound(
            f"project {project} has no label quality report yet",
            "it is written after each training run: train the project (Start training, or "
            "annotate until a run starts) and ask again",
        )
    return jsonify(report)
