"""The Flask application: one composition root, no work at import."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, current_app, g, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from backend.errors import BackendError, QueueUnavailable
from backend.redis_store import connect
from backend.settings import Settings
from backend.web.auth import check_request
from backend.web.job_routes import jobs_blueprint
from backend.web.pages import add_page_headers, pages_blueprint
from backend.web.protocol import blueprint
from backend.web.quality_routes import quality_blueprint
from backend.web.request_body import drain_when_answered, too_large
from backend.web.services import Services
from backend.web.version_routes import versions_blueprint

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, redis: Redis | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("lsbert", static_folder=None)  # the pages blueprint serves /static
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # werkzeug enforces it on bodies without Content-Length too (chunked), as they are read
    app.config["MAX_CONTENT_LENGTH"] = settings.request_max_mb * 2**20
    shared = Services.build(settings, redis or connect(settings.require_redis("web")))
    app.extensions["lsbert"] = shared
    app.register_blueprint(blueprint)
    app.register_blueprint(jobs_blueprint)
    app.register_blueprint(versions_blueprint)
    app.register_blueprint(pages_blueprint)
    app.register_blueprint(quality_blueprint)
    app.before_request(lambda: start_request(settings))
    app.after_request(count_request)
    app.after_request(add_page_headers)
    app.after_request(drain_when_answered)
    register_error_handlers(app)
    return app


def start_request(settings: Settings) -> None:
    g.started = time.monotonic()
    # before credentials and before a byte of the body is read: a body announced too large
    # costs nothing, whoever sends it
    length = request.content_length
    if length is not None and length > settings.request_max_mb * 2**20:
        raise too_large(settings.request_max_mb)
    check_request(settings)


def count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    current_app.extensions["lsbert"].metrics.add(
        "lsbert_http_requests_total", route=route, status=response.status_code
    )
    return response


def error_response(status: int, code: str, message: str, fix: str = "") -> tuple[Response, int]:
    error_id = uuid.uuid4().hex[:12]
    g.error_id = error_id
    return jsonify(error=code, message=message, fix=fix, error_id=error_id), status


ROUTES = "/health, /setup, /predict, /webhook, /versions, /jobs, /metrics"


def http_error_fix(error: HTTPException) -> str:
    """What to do about an error werkzeug raised (no route, wrong method, ...)."""
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        return f"use {' or '.join(sorted(error.valid_methods))} for {request.path}"
    if error.code == 404:
        return f"this backend answers {ROUTES} (see docs/api.md)"
    return "send the request as docs/api.md describes it"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BackendError)
    def backend_error(error: BackendError):  # type: ignore[no-untyped-def]
        response = error_response(error.status, error.code, error.message, error.fix)
        if error.status == 401:
            response[0].headers["WWW-Authenticate"] = 'Basic realm="lsbert"'
        return response

    @app.errorhandler(RedisError)
    def redis_error(error: RedisError):  # type: ignore[no-untyped-def]
        log.error("Redis failed during %s %s: %s", request.method, request.path, error)
        unavailable = QueueUnavailable(
            "Redis is unreachable", "check REDIS_URL and that Redis runs"
        )
        return error_response(
            unavailable.status, unavailable.code, unavailable.message, unavailable.fix
        )

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(_error: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
        # werkzeug's own check (a chunked body past the limit, read by a route)
        return backend_error(too_large(current_app.config["MAX_CONTENT_LENGTH"] // 2**20))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        code = (error.name or "error").lower().replace(" ", "_")
        message = error.description or error.name
        return error_response(error.code or 500, code, message, http_error_fix(error))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # type: ignore[no-untyped-def]
        response = error_response(
            500, "internal_error", "the backend failed on this request", "see the backend's log"
        )
        log.exception("error %s on %s %s", g.error_id, request.method, request.path)
        return response
