"""Run a real Label Studio 1.23.2 for tests, and talk to its API.

Everything here was checked against a real Label Studio 1.23.2 server (see the facts in
/work/shared/docs/label-studio.md); only the standard library and `requests` are used, so the
module runs from the project's own virtual environment while Label Studio lives in its own
(it pins Django, numpy and pandas, which must not leak into the project's).

Typical use from a pytest fixture::

    venv = ensure_label_studio_venv()
    with LabelStudioServer(venv) as server:
        client = server.client()              # legacy `Token` key
        pat_client = server.client("pat")     # personal access token (JWT)
        project = client.create_project("t", CONFIG)
        ...

Facts the code relies on (measured, not guessed):

- First start on a fresh data folder takes 33-45 s here (migrations); a restart on the same
  folder 3-5 s; stop about 1 s. The server is one process (Django's development server, no
  reloader), about 330 MB resident.
- `LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN` is copied into the organization at its creation (first
  start). Both kinds of key then work side by side on one server; either can be switched at
  run time with `POST /api/jwt/settings` (see `LabelStudioClient.set_token_settings`).
- A personal access token (PAT) is created with `POST /api/token/` by a logged-in user (session or
  any working key). Label Studio shows it in full only once: a second create answers 409 and the
  listing shows it without its signature, so the module keeps it in a file in the data folder.
- `POST /api/token/refresh/ {"refresh": PAT}` gives `{"access": JWT}` valid 300 s, sent as
  `Authorization: Bearer <access>`. `Bearer <PAT>` and `Token <PAT>` both answer 401.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import requests

LABEL_STUDIO_VERSION = "1.23.2"

# The project keeps the Label Studio venv next to its own, ignored by git (.gitignore: .ls-venv/).
DEFAULT_VENV_DIR = Path(__file__).resolve().parent.parent / ".ls-venv"

DEFAULT_USERNAME = "admin@example.com"
DEFAULT_PASSWORD = "lsbert-test-password"
# Label Studio wants 6+ characters; a fixed value keeps a reused data folder's key stable.
DEFAULT_LEGACY_TOKEN = "lsbert-test-legacy-token"

# File in the data folder where the personal access token is kept (see module docstring).
_PAT_FILE = "lsbert-personal-access-token.txt"

TokenKind = Literal["legacy", "pat"]


class LabelStudioError(RuntimeError):
    """Label Studio did not start, or answered an API call with an error."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message if not body else f"{message}: {body[:2000]}")
        self.status = status
        self.body = body


# --------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------


def installed_label_studio_version(venv_dir: Path) -> str | None:
    """The Label Studio version importable in `venv_dir`, or None.

    Imports the package instead of running `label-studio --version`: that command starts a
    server on 0.0.0.0:8080 instead of printing a version.
    """
    python = Path(venv_dir) / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import label_studio; print(label_studio.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def ensure_label_studio_venv(
    venv_dir: str | Path = DEFAULT_VENV_DIR,
    version: str = LABEL_STUDIO_VERSION,
    python: str = "python3",
) -> Path:
    """Create `venv_dir` with Label Studio `version` in it unless it is already there.

    About 2 minutes and 1 GB the first time. A file lock makes concurrent test sessions (e.g.
    pytest-xdist workers) wait for one installer instead of racing pip into the same folder.
    Returns the venv folder.
    """
    venv = Path(venv_dir).resolve()
    if installed_label_studio_version(venv) == version:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / f".{venv.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if installed_label_studio_version(venv) != version:  # another process may have won
                subprocess.run([python, "-m", "venv", str(venv)], check=True)
                subprocess.run(
                    [str(venv / "bin" / "pip"), "install", "--quiet", f"label-studio=={version}"],
                    check=True,
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    found = installed_label_studio_version(venv)
    if found != version:
        raise LabelStudioError(f"{venv} holds Label Studio {found!r}, not {version}")
    return venv


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it, so no guessing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabelStudioServer:
    """One Label Studio process bound to 127.0.0.1, with its data in a (temporary) folder.

    `start()` blocks until `/health` answers on the chosen port AND the server's log says it
    serves that very port: a busy port makes Label Studio move silently to the next one, where
    `/health` of someone else's server would otherwise fool us. `stop()` ends the whole process
    group. With `data_dir=None` a temporary folder is used and removed by `stop()`; pass a
    folder to keep the database between runs (restart 3-5 s instead of 33-45 s).
    """

    def __init__(
        self,
        venv_dir: str | Path = DEFAULT_VENV_DIR,
        data_dir: str | Path | None = None,
        *,
        port: int | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        legacy_token: str = DEFAULT_LEGACY_TOKEN,
        enable_legacy_tokens: bool = True,
        startup_timeout: float = 300.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        if len(legacy_token) < 6:
            raise ValueError("Label Studio ignores a LABEL_STUDIO_USER_TOKEN under 6 characters")
        self.venv_dir = Path(venv_dir)
        self.username = username
        self.password = password
        self.legacy_token = legacy_token
        # Only takes effect when the organization is created, i.e. on a fresh data folder.
        self.enable_legacy_tokens = enable_legacy_tokens
        self.startup_timeout = startup_timeout
        self.extra_env = dict(extra_env or {})
        self._requested_port = port
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="ls-test-"))
        self.port: int = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._pat: str | None = None
        self.start_seconds: float | None = None  # how long the last start() took

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise LabelStudioError("Label Studio is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "label-studio.log"

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LabelStudioServer:
        """Start the server (a few tries on a fresh port if a port race is lost)."""
        if self.process is not None:
            return self
        executable = self.venv_dir / "bin" / "label-studio"
        if not executable.exists():
            raise LabelStudioError(f"no {executable}: call ensure_label_studio_venv() first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A restart keeps the previous port so that clients made before it keep working.
        first = self._requested_port or self.port
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            port = first if attempt == 0 and first else free_loopback_port()
            try:
                self._start_on(executable, port)
                return self
            except _PortTaken:
                self._kill()
                if attempt == attempts - 1:
                    raise LabelStudioError(
                        f"port {port} was taken before Label Studio bound it"
                    ) from None
        raise AssertionError("unreachable")

    def _environment(self, port: int) -> dict[str, str]:
        # Start from the caller's environment minus anything that could steer Django or Label
        # Studio elsewhere (a developer's own LABEL_STUDIO_* or the project venv's PYTHONPATH).
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))
            and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HOST")
        }
        data = str(self.data_dir)
        env.update(
            {
                "PATH": f"{self.venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
                "VIRTUAL_ENV": str(self.venv_dir),
                "LABEL_STUDIO_BASE_DATA_DIR": data,
                # Label Studio and its libraries write config/caches under XDG folders.
                "XDG_CONFIG_HOME": f"{data}/cfg",
                "XDG_DATA_HOME": f"{data}/data",
                "XDG_CACHE_HOME": f"{data}/cache",
                # No phoning home from a test run.
                "COLLECT_ANALYTICS": "false",
                "LATEST_VERSION_CHECK": "false",
                "SENTRY_DSN": "",
                "FRONTEND_SENTRY_DSN": "",
                # A backend on 127.0.0.1 needs BOTH; with only the first, POST /api/ml answers
                # 403 yet half-creates the backend, without its webhook.
                "ML_BLOCK_LOCAL_IP": "false",
                "SSRF_PROTECTION_ENABLED": "false",
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true"
                if self.enable_legacy_tokens
                else "false",
                "LABEL_STUDIO_USERNAME": self.username,
                "LABEL_STUDIO_PASSWORD": self.password,
                "LABEL_STUDIO_USER_TOKEN": self.legacy_token,
                # `hostname` in /setup is this value; unset it would be http://localhost:<port>.
                "LABEL_STUDIO_HOST": f"http://127.0.0.1:{port}",
                "PYTHONUNBUFFERED": "1",  # so the log shows the bound port without delay
            }
        )
        env.update(self.extra_env)
        return env

    def _start_on(self, executable: Path, port: int) -> None:
        started = time.monotonic()
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _kill()
        self.process = subprocess.Popen(
            [
                str(executable),
                "start",
                "--no-browser",
                # --internal-host is the bind address (its default is 0.0.0.0); --host is not.
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=self.data_dir,
            env=self._environment(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,  # a file, not a pipe: a full pipe would block the server
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so stop() can end all of it
        )
        self.port = port
        atexit.register(self.stop)  # safety net if a test run dies before its teardown
        banner = f"Starting development server at http://127.0.0.1:{port}/"
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._kill()  # closes the log file and sweeps the group
                raise LabelStudioError(f"Label Studio exited with {code}", body=self.log_tail())
            log = self._log_since(log_offset)
            if "Starting development server at" in log and banner not in log:
                raise _PortTaken()
            if banner in log and self._health_ok():
                self.start_seconds = time.monotonic() - started
                return
            time.sleep(0.3)
        tail = self.log_tail()
        self._kill()
        raise LabelStudioError(
            f"Label Studio not healthy after {self.startup_timeout} s", body=tail
        )

    def _health_ok(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server's whole process group; remove the data folder if it is ours."""
        self._kill()
        atexit.unregister(self.stop)
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self) -> LabelStudioServer:
        """Stop and start again on the same data folder and port (a new port if it got taken).

        Only meaningful with a `data_dir` of your own or while the temporary one exists: the
        temporary folder is removed by `stop()`, not by `restart()`.
        """
        self._kill()
        return self.start()

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # pid == pgid (start_new_session)
            try:
                process.wait(timeout=15)  # measured: about 1 s
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        if process is not None:
            # The leader may be gone while a stray child lives on: sweep the group anyway.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- credentials -------------------------------------------------------------------------

    @property
    def personal_access_token(self) -> str:
        """The user's personal access token (a JWT refresh token), created on first use.

        Obtained by API only: log in with the session form (works whether or not legacy tokens
        are enabled), then `POST /api/token/`. Kept in the data folder, because Label Studio
        never shows it again and refuses a second one (409) while it is valid.
        """
        if self._pat is None:
            stored = self.data_dir / _PAT_FILE
            if stored.exists():
                self._pat = stored.read_text().strip()
            else:
                session = self.login_session()
                response = session.post(
                    f"{self.base_url}/api/token/",
                    headers={
                        "X-CSRFToken": session.cookies.get("csrftoken") or "",
                        "Referer": f"{self.base_url}/",
                    },
                    timeout=30,
                )
                if response.status_code != 201:
                    raise LabelStudioError(
                        "could not create a personal access token (409: one exists already, "
                        "and its full text is only shown once)",
                        response.status_code,
                        response.text,
                    )
                self._pat = str(response.json()["token"])
                stored.write_text(self._pat)
        return self._pat

    def login_session(self) -> requests.Session:
        """A `requests.Session` logged in like a browser (session cookie + CSRF cookie)."""
        session = requests.Session()
        login = f"{self.base_url}/user/login/"
        session.get(login, timeout=30).raise_for_status()  # sets the csrftoken cookie
        response = session.post(
            login,
            data={
                "email": self.username,
                "password": self.password,
                "csrfmiddlewaretoken": session.cookies.get("csrftoken") or "",
            },
            headers={"Referer": login},
            allow_redirects=False,
            timeout=30,
        )
        # Success is a 302 to "/"; a failed login re-renders the form with 200.
        if response.status_code != 302 or "sessionid" not in session.cookies:
            raise LabelStudioError("session login failed", response.status_code, response.text)
        return session

    def client(self, kind: TokenKind = "legacy", timeout: float = 60.0) -> LabelStudioClient:
        """An API client authenticated with the legacy key or with the personal access token."""
        key = self.legacy_token if kind == "legacy" else self.personal_access_token
        return LabelStudioClient(self.base_url, key, kind=kind, timeout=timeout)


class _PortTaken(Exception):
    """Label Studio found the port busy and moved to another one."""


# --------------------------------------------------------------------------------------------
# API client
# --------------------------------------------------------------------------------------------

Json = Any  # decoded JSON: dict, list, str, number, bool or None


class LabelStudioClient:
    """A thin client of the Label Studio API: the calls an ML backend test needs, no more.

    `kind="legacy"` sends `Authorization: Token <key>`. `kind="pat"` exchanges the personal
    access token for a 5-minute access token and sends `Authorization: Bearer <access>`,
    refreshing once on a 401. Every error raises `LabelStudioError` with the response body.
    """

    def __init__(
        self, base_url: str, key: str, kind: TokenKind = "legacy", timeout: float = 60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.kind = kind
        self.timeout = timeout
        self.session = requests.Session()
        self._access: str | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def access_token(self, refresh: bool = False) -> str:
        """A short-lived JWT access token for the personal access token (cached)."""
        if self._access is None or refresh:
            response = self.session.post(
                f"{self.base_url}/api/token/refresh/",
                json={"refresh": self.key},
                timeout=self.timeout,
            )
            _check(response, "POST /api/token/refresh/")
            self._access = str(response.json()["access"])
        return self._access

    def _authorization(self, refresh: bool = False) -> str:
        if self.kind == "legacy":
            return f"Token {self.key}"
        return f"Bearer {self.access_token(refresh)}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send an authenticated request; raise `LabelStudioError` on any 4xx/5xx."""
        url = f"{self.base_url}{path}"
        kwargs.setdefault("timeout", self.timeout)
        headers = {"Authorization": self._authorization()}
        response = self.session.request(method, url, headers=headers, **kwargs)
        if response.status_code == 401 and self.kind == "pat":
            headers = {"Authorization": self._authorization(refresh=True)}
            response = self.session.request(method, url, headers=headers, **kwargs)
        _check(response, f"{method} {path}")
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Json:
        """`request()` and decode the JSON answer (None for an empty body, e.g. 204)."""
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # -- users and tokens ---------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        return dict(self.json("GET", "/api/current-user/whoami"))

    def token_settings(self) -> dict[str, Any]:
        """`{"api_tokens_enabled": bool, "legacy_api_tokens_enabled": bool}` of the org."""
        return dict(self.json("GET", "/api/jwt/settings"))

    def set_token_settings(
        self, *, legacy_tokens: bool | None = None, personal_tokens: bool | None = None
    ) -> dict[str, Any]:
        """Switch legacy keys / personal access tokens on or off for the organization.

        Takes effect at once (no restart). Use it to test a backend against Label Studio's
        default (legacy keys off) on a server started with them on. Don't switch off the kind
        this client itself uses.
        """
        body: dict[str, bool] = {}
        if legacy_tokens is not None:
            body["legacy_api_tokens_enabled"] = legacy_tokens
        if personal_tokens is not None:
            body["api_tokens_enabled"] = personal_tokens
        return dict(self.json("POST", "/api/jwt/settings", json=body))

    # -- projects and tasks -------------------------------------------------------------------

    def create_project(self, title: str, label_config: str, **fields: Any) -> dict[str, Any]:
        """`POST /api/projects`; returns the project (its `id` is what the other calls take)."""
        body = {"title": title, "label_config": label_config, **fields}
        return dict(self.json("POST", "/api/projects", json=body))

    def get_project(self, project: int) -> dict[str, Any]:
        return dict(self.json("GET", f"/api/projects/{int(project)}"))

    def import_tasks(self, project: int, tasks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """`POST /api/projects/{id}/import` with `[{"data": {...}}, ...]`.

        Items without a "data" key are wrapped as data. Returns e.g. `{"task_count": 3, ...}`
        (no task ids: use `list_tasks`). With an ML backend connected this sends a
        TASKS_CREATED webhook (no predictions are requested).
        """
        items = [dict(t) if "data" in t else {"data": dict(t)} for t in tasks]
        return dict(self.json("POST", f"/api/projects/{int(project)}/import", json=items))

    def list_tasks(self, project: int, page_size: int = 10_000) -> list[dict[str, Any]]:
        """All tasks of a project (`GET /api/tasks` answers `{"tasks": [...], "total": N}`)."""
        answer = self.json(
            "GET", "/api/tasks", params={"project": int(project), "page_size": page_size}
        )
        return list(answer["tasks"])

    def get_task(self, task: int) -> dict[str, Any]:
        """One task, with its `predictions` and `annotations` inline."""
        return dict(self.json("GET", f"/api/tasks/{int(task)}"))

    # -- ML backend ---------------------------------------------------------------------------

    def connect_ml_backend(
        self,
        project: int,
        url: str,
        basic_auth: tuple[str, str] | None = None,
        *,
        title: str = "test backend",
        is_interactive: bool = False,
        extra_params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`POST /api/ml`: Label Studio calls `/health` and `/setup`, and creates the project
        webhook to `<url>/webhook` (all actions, full payload).

        With `basic_auth=(user, password)` Label Studio sends `Authorization: Basic ...` to
        /health, /setup, /predict and the START_TRAINING /webhook, but NOT to the event
        webhooks (TASKS_CREATED, ANNOTATION_*), which carry no auth header at all.
        Returns the backend: `{"id", "state": "CO", "model_version", "auth_method", ...}`.
        """
        body: dict[str, Any] = {
            "url": url,
            "project": int(project),
            "title": title,
            "is_interactive": is_interactive,
        }
        if basic_auth is not None:
            body.update(
                auth_method="BASIC_AUTH",
                basic_auth_user=basic_auth[0],
                basic_auth_pass=basic_auth[1],
            )
        if extra_params is not None:
            body["extra_params"] = dict(extra_params)
        return dict(self.json("POST", "/api/ml", json=body))

    def get_ml_backend(self, ml_backend: int) -> dict[str, Any]:
        """`GET /api/ml/{id}`; note this itself calls the backend's /health and /setup, which
        refreshes `model_version` and `state` ("CO" connected, "ER" error, ...)."""
        return dict(self.json("GET", f"/api/ml/{int(ml_backend)}"))

    def list_ml_backends(self, project: int) -> list[dict[str, Any]]:
        return list(self.json("GET", "/api/ml", params={"project": int(project)}))

    def list_webhooks(self, project: int) -> list[dict[str, Any]]:
        """The project's webhooks: connecting a backend adds one with url `<backend>/webhook`,
        `send_payload: true`, `send_for_all_actions: true`, `headers: {}`."""
        return list(self.json("GET", "/api/webhooks", params={"project": int(project)}))

    def retrieve_predictions(
        self, project: int, task_ids: Iterable[int] | None = None
    ) -> dict[str, Any]:
        """The Data Manager's "Retrieve predictions" action, for all tasks or the given ones.

        Label Studio calls /health, /setup, then ONE /predict with every selected task that has
        no prediction from the model_version /setup just returned; if none lacks one, /predict
        is not called at all, yet the answer still says `{"processed_items": N, "detail":
        "Retrieved N predictions"}`. Synchronous: predictions are stored when this returns.
        """
        selected: dict[str, Any]
        if task_ids is None:
            selected = {"all": True, "excluded": []}
        else:
            selected = {"all": False, "included": [int(t) for t in task_ids]}
        return dict(
            self.json(
                "POST",
                "/api/dm/actions",
                params={"id": "retrieve_tasks_predictions", "project": int(project)},
                json={"selectedItems": selected},
            )
        )

    def list_predictions(
        self, project: int | None = None, task: int | None = None
    ) -> list[dict[str, Any]]:
        """`GET /api/predictions`: `[{"id", "task", "project", "result", "score",
        "model_version", "model", "model_run", "created_at", ...}]`. Old versions' predictions
        are kept: filter on `model_version`."""
        params = {k: int(v) for k, v in (("project", project), ("task", task)) if v is not None}
        return list(self.json("GET", "/api/predictions", params=params))

    def create_prediction(
        self,
        task: int,
        result: list[dict[str, Any]],
        *,
        score: float | None = None,
        model_version: str | None = None,
    ) -> dict[str, Any]:
        """`POST /api/predictions`: what a backend may do itself instead of answering /predict."""
        body: dict[str, Any] = {"task": int(task), "result": result}
        if score is not None:
            body["score"] = score
        if model_version is not None:
            body["model_version"] = model_version
        return dict(self.json("POST", "/api/predictions", json=body))

    def train(self, ml_backend: int) -> Json:
        """`POST /api/ml/{id}/train`: Label Studio POSTs `{"action": "START_TRAINING",
        "project": {...}}` to the backend's /webhook (with basic auth if configured), and
        answers 200 with an empty body."""
        return self.json("POST", f"/api/ml/{int(ml_backend)}/train", json={})

    # -- annotations and export ---------------------------------------------------------------

    def create_annotation(
        self, task: int, result: list[dict[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """`POST /api/tasks/{id}/annotations` -> ANNOTATION_CREATED webhook."""
        body = {"result": result, **fields}
        return dict(self.json("POST", f"/api/tasks/{int(task)}/annotations", json=body))

    def update_annotation(
        self, annotation: int, result: list[dict[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """`PATCH /api/annotations/{id}` -> ANNOTATION_UPDATED webhook."""
        body = {"result": result, **fields}
        return dict(self.json("PATCH", f"/api/annotations/{int(annotation)}", json=body))

    def delete_annotation(self, annotation: int) -> None:
        """`DELETE /api/annotations/{id}` (204) -> ANNOTATIONS_DELETED webhook with ids only."""
        self.request("DELETE", f"/api/annotations/{int(annotation)}")

    def export(self, project: int, download_all_tasks: bool = False) -> list[dict[str, Any]]:
        """`GET /api/projects/{id}/export?exportType=JSON`: by default only tasks that have
        annotations, each with `annotations` (full results) inline and `predictions` as ids."""
        params: dict[str, str] = {"exportType": "JSON"}
        if download_all_tasks:
            params["download_all_tasks"] = "true"
        return list(self.json("GET", f"/api/projects/{int(project)}/export", params=params))


def _check(response: requests.Response, what: str) -> None:
    if response.status_code >= 400:
        raise LabelStudioError(
            f"{what} answered HTTP {response.status_code}", response.status_code, response.text
        )


def choices_result(from_name: str, to_name: str, *choices: str) -> list[dict[str, Any]]:
    """An annotation/prediction `result` for a <Choices> tag, e.g. ("sentiment", "text", "Pos")."""
    return [
        {
            "from_name": from_name,
            "to_name": to_name,
            "type": "choices",
            "value": {"choices": list(choices)},
        }
    ]


if __name__ == "__main__":  # pragma: no cover - manual smoke run: start, print, stop
    with LabelStudioServer(ensure_label_studio_venv()) as _server:
        print(json.dumps({"base_url": _server.base_url, "start_seconds": _server.start_seconds}))
        print(json.dumps(_server.client("pat").whoami())[:200])
