"""A small client of the Label Studio API: both kinds of key, and readable failures.

Label Studio 1.20+ issues personal access tokens (JWT refresh tokens exchanged for
short-lived access tokens); older installs and `LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN`
use a legacy key sent as `Token <key>`. The kind is told apart by the key's shape.
"""

from __future__ import annotations

import json
import logging
import threading

import requests

from backend.errors import LabelStudioError
from backend.redaction import without_credentials

log = logging.getLogger(__name__)
# Reading 10,000 tasks from Label Studio 1.23.2 on SQLite 1,000 a page with only these
# fields takes 2.3 s in all (its default fields take 1.1 s a page)
TASK_PAGE_SIZE = 1000
TASK_FIELDS = "id,data,is_labeled"
DATA_CHUNK = 100  # task ids per request that reads given tasks' data


def is_personal_access_token(key: str) -> bool:
    """Personal access tokens are JWTs: three base64 parts joined by dots."""
    return key.count(".") == 2 and all(key.split("."))


class LabelStudioClient:
    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = requests.Session()
        self._access: str | None = None
        self._lock = threading.Lock()

    def project(self, project: int) -> dict:
        found = self.get_json(f"/api/projects/{int(project)}")
        if not isinstance(found, dict):
            raise LabelStudioError(f"Label Studio answered project {project} with no object")
        return found

    def label_config(self, project: int) -> str:
        return str(self.project(project).get("label_config") or "")

    def annotated_tasks(self, project: int) -> list[dict]:
        """Every task of the project that has annotations, with them inline."""
        tasks = self.get_json(f"/api/projects/{int(project)}/export", params={"exportType": "JSON"})
        if not isinstance(tasks, list):
            raise LabelStudioError(f"the export of project {project} is not a list of tasks")
        return tasks

    def tasks_page(self, project: int, page: int) -> tuple[list[dict], int]:
        """One page of the project's tasks (id, data, is_labeled), and how many it has."""
        params = {"page": page, "page_size": TASK_PAGE_SIZE, "include": TASK_FIELDS}
        answer = self.task_list(project, params)
        return answer["tasks"], int(answer.get("total") or 0)

    def task_list(self, project: int, params: dict) -> dict:
        """`GET /api/tasks` of the project (the Data Manager's list), checked to hold a
        list of tasks."""
        answer = self.get_json("/api/tasks", params={"project": int(project), **params})
        if not isinstance(answer, dict) or not isinstance(answer.get("tasks"), list):
            raise LabelStudioError(f"Label Studio listed project {project}'s tasks oddly")
        return answer

    def tasks(self, project: int, read_page=None) -> list[dict]:  # type: ignore[no-untyped-def]
        """Every task of the project: id, data and whether it is labelled; `read_page`
        (default: tasks_page) reads one page, e.g. with retries."""
        read_page = read_page or self.tasks_page
        tasks: list[dict] = []
        page = 1
        while True:
            found, total = read_page(project, page)
            tasks += found
            if not found or len(tasks) >= total:
                return tasks
            page += 1

    def tasks_data(self, project: int, ids: list[int]) -> dict[int, dict]:
        """Each given task's data, read from the task list: GET /api/tasks/{id} would make
        Label Studio ask the backend for a prediction of a task that has none."""
        found: dict[int, dict] = {}
        for start in range(0, len(ids), DATA_CHUNK):
            chunk = [int(i) for i in ids[start : start + DATA_CHUNK]]
            query = json.dumps({"selectedItems": {"all": False, "included": chunk}})
            params = {"page_size": len(chunk), "include": "id,data", "query": query}
            tasks = self.task_list(project, params)["tasks"]
            found.update({int(t["id"]): dict(t.get("data") or {}) for t in tasks})
        return found

    def predictions(self, project: int) -> list[dict]:
        """Every prediction stored in the project, each with its `model_version`."""
        found = self.get_json("/api/predictions", params={"project": int(project)})
        return found if isinstance(found, list) else []

    def replace_task_data(self, task: int, data: dict) -> None:
        """`PATCH /api/tasks/{id}`: Label Studio replaces the task's whole `data` with this
        (send it back whole); no webhook fires."""
        self.request("PATCH", f"/api/tasks/{int(task)}", json={"data": data})

    def views(self, project: int) -> list[dict]:
        """The project's Data Manager tabs."""
        found = self.get_json("/api/dm/views", params={"project": int(project)})
        return found if isinstance(found, list) else []

    def save_view(self, project: int, data: dict, view: int | None = None) -> dict:
        """Create a Data Manager tab (visible to the organization), or replace one's settings."""
        body = {"project": int(project), "data": data}
        if view is None:
            return self.request("POST", "/api/dm/views", json=body).json()
        return self.request("PATCH", f"/api/dm/views/{int(view)}", json=body).json()

    def get_json(self, path: str, params: dict | None = None) -> dict | list:
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise LabelStudioError(
                f"Label Studio answered {path} with something else than JSON"
            ) from None

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = self._send(method, path, self.authorization(), **kwargs)
        if response.status_code == 401 and is_personal_access_token(self.api_key):
            # The access token expired (they last minutes): refresh once and retry.
            response = self._send(method, path, self.authorization(refresh=True), **kwargs)
        self.raise_for_status(response, path)
        return response

    def authorization(self, refresh: bool = False) -> str:
        if not is_personal_access_token(self.api_key):
            return f"Token {self.api_key}"
        with self._lock:
            if refresh or self._access is None:
                self._access = self.refresh_access_token()
            return f"Bearer {self._access}"

    def refresh_access_token(self) -> str:
        response = self._send("POST", "/api/token/refresh/", None, json={"refresh": self.api_key})
        if response.status_code in (401, 403):
            raise LabelStudioError(
                "Label Studio rejected LABEL_STUDIO_API_KEY as a personal access token: copy a "
                "current token from Account & Settings",
                response.status_code,
            )
        self.raise_for_status(response, "/api/token/refresh/")
        access = response.json().get("access")
        if not access:
            raise LabelStudioError("Label Studio's token refresh returned no access token")
        return str(access)

    def _send(
        self, method: str, path: str, authorization: str | None, **kwargs: object
    ) -> requests.Response:
        headers = {"Authorization": authorization} if authorization else {}
        timeout = kwargs.pop("timeout", self.timeout)  # a caller may give a slow call longer
        try:
            return self.session.request(
                method,
                self.url + path,
                headers=headers,
                timeout=timeout,  # type: ignore[arg-type]
                **kwargs,  # type: ignore[arg-type]
            )
        except requests.RequestException as error:
            raise LabelStudioError(
                f"Label Studio is unreachable at {without_credentials(self.url)} "
                f"({type(error).__name__}): check "
                "LABEL_STUDIO_URL and that Label Studio runs"
            ) from None

    def raise_for_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise LabelStudioError(
                f"Label Studio refused {path} ({status}): check LABEL_STUDIO_API_KEY; a legacy "
                "token also needs legacy tokens enabled in the organization",
                status,
            )
        if status == 404:
            raise LabelStudioError(
                f"Label Studio has no {path} (404): is the project deleted?", status
            )
        raise LabelStudioError(f"Label Studio answered {path} with HTTP {status}", status)
