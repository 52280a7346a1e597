"""`lsbert web`: the Flask app under gunicorn, with threads so /health never waits."""

from __future__ import annotations

import json
import uuid

from gunicorn import util
from gunicorn.app.base import BaseApplication

from backend.settings import Settings
from backend.web.app import create_app


class WebServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        self.bind = f"{host}:{port}"
        super().__init__()

    def load_config(self) -> None:
        # No preload: the app (and torch, on first prediction) is built in each worker,
        # never in the master before it forks.
        options = {
            "bind": self.bind,
            "workers": self.settings.web_workers,
            "worker_class": "gthread",
            "threads": self.settings.web_threads,
            "timeout": self.settings.web_timeout,
            "graceful_timeout": 10,
            "keepalive": 5,
            "preload_app": False,
            "loglevel": self.settings.log_level.lower(),
            "errorlog": "-",
            "accesslog": None,
            # gunicorn's control socket is one file per user: two servers would share it.
            "control_socket_disable": True,
            "worker_exit": self.worker_exit,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self):  # type: ignore[no-untyped-def]
        # Runs in each worker after the fork, so torch is never loaded in the master.
        app = create_app(self.settings)
        self.cache = app.extensions["lsbert"].cache
        self.cache.warm_up()
        return app

    def worker_exit(self, _server: object, _worker: object) -> None:
        # In the worker, before the interpreter shuts its thread pools down under a preload
        cache = getattr(self, "cache", None)
        if cache is not None:
            cache.closing = True


def write_json_error(sock: object, status: int, reason: str, message: str) -> None:
    """gunicorn's answer to a request it refuses before the app sees it (a request line or
    headers too long or malformed), as JSON like every other error, not an HTML page."""
    fixes = {
        414: "shorten the URL: send data in the JSON body, not the query",
        431: "send fewer or shorter headers",
    }
    body = json.dumps(
        {
            "error": reason.lower().replace(" ", "_"),
            "message": message or reason,
            "fix": fixes.get(status, "send a well-formed HTTP/1.1 request"),
            "error_id": uuid.uuid4().hex[:12],
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def run_web(settings: Settings, host: str, port: int) -> None:
    util.write_error = write_json_error  # the workers' error pages, before they fork
    WebServer(settings, host, port).run()
