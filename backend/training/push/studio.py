"""The Label Studio API calls a push makes, each retried while Label Studio is away.

Measured on Label Studio 1.23.2 with SQLite, 10,000 tasks: reading them, 2.3 s in all
(backend.labelstudio reads them a page at a time, with few fields); storing predictions
about 1 ms each in bulk; listing the project's predictions 1.6 s for 17,500; deleting a
version's predictions about 5 ms each, in one transaction during which Label Studio's
other writes wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from backend.errors import LabelStudioError
from backend.labelstudio import LabelStudioClient
from backend.training.push.plan import predictions_by_task

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_WAIT, LONGEST_WAIT = 1.0, 30.0
UNCERTAINTY_SAMPLING = "Uncertainty sampling"  # Label Studio's name for it
DELETE_SECONDS_EACH = 0.02  # 4 times what deleting one prediction took, measured


class PushStudio:
    """A project's tasks and predictions in Label Studio, for one push."""

    def __init__(
        self,
        client: LabelStudioClient,
        retry_for: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.retry_for = retry_for
        self.sleep = sleep

    def retrying(self, what: str, call: Callable[[], T], before_retry=None) -> T:  # type: ignore[no-untyped-def]
        """`call()`, again after waits of 1 s doubling to 30 s while Label Studio is
        unreachable or answers 5xx, for `retry_for` seconds at most; then its error, saying
        how long it was tried. Other refusals (4xx) fail at once: retrying cannot help."""
        started, wait, slept = time.monotonic(), FIRST_WAIT, 0.0
        while True:
            try:
                return call()
            except LabelStudioError as error:
                spent = max(time.monotonic() - started, slept)
                if not error.retryable or spent + wait > self.retry_for:
                    if spent:
                        raise LabelStudioError(
                            f"{error} (still failing after {spent:.0f} s of retries: {what})",
                            error.status,
                        ) from None
                    raise
                log.warning("%s failed, retrying in %.0f s: %s", what, wait, error)
                self.sleep(wait)
                slept += wait
                wait = min(wait * 2, LONGEST_WAIT)
                if before_retry is not None:
                    before_retry()

    def project(self, project: int) -> dict:
        return self.retrying(f"reading project {project}", lambda: self.client.project(project))

    def tasks(self, project: int) -> list[dict]:
        """Every task of the project: id, data and whether it is annotated."""

        def read_page(project: int, page: int) -> tuple[list[dict], int]:
            return self.retrying(
                f"reading page {page} of project {project}'s tasks",
                lambda: self.client.tasks_page(project, page),
            )

        return self.client.tasks(project, read_page)

    def predictions_of(self, project: int, version: str) -> dict[int, list[int]]:
        """Task id -> ids of its predictions of `version`."""
        answer = self.retrying(
            f"reading project {project}'s predictions",
            lambda: self.client.get_json("/api/predictions", params={"project": project}),
        )
        if not isinstance(answer, list):
            raise LabelStudioError(f"Label Studio listed project {project}'s predictions oddly")
        return predictions_by_task(answer, version)

    def store(self, project: int, predictions: list[dict]) -> int:
        """Stores predictions in bulk, once: the caller decides what a retry resends."""
        path = f"/api/projects/{project}/import/predictions"
        answer = self.send("POST", path, predictions)
        return int(answer.get("created") or 0) if isinstance(answer, dict) else 0

    def update_project(self, project: int, fields: dict) -> dict:
        answer = self.retrying(
            f"setting {', '.join(fields)} of project {project}",
            lambda: self.send("PATCH", f"/api/projects/{project}", fields),
        )
        return answer if isinstance(answer, dict) else {}

    def model_versions(self, project: int) -> dict[str, int]:
        """Each prediction version of the project and how many predictions it has."""
        answer = self.retrying(
            f"reading project {project}'s model versions",
            lambda: self.client.get_json(f"/api/projects/{project}/model-versions"),
        )
        return {str(k): int(v) for k, v in answer.items()} if isinstance(answer, dict) else {}

    def delete_version(self, project: int, version: str, predictions: int) -> None:
        """Deletes a version's predictions, given how many: Label Studio takes about 5 ms
        each in one request, so the request gets that long and more to answer. A retry
        after a timeout finds the work done, or Label Studio busy doing it (5xx)."""
        timeout = max(self.client.timeout, DELETE_SECONDS_EACH * predictions + 30.0)
        self.retrying(
            f"deleting version {version}'s {predictions} predictions in project {project}",
            lambda: self.send(
                "DELETE",
                f"/api/projects/{project}/model-versions",
                {"model_version": version},
                timeout,
            ),
        )

    def set_data_field(self, project: int, tasks: list[int], key: str, value: float) -> None:
        """Sets `key` to `value` in the data of `tasks` (the Data Manager's bulk action)."""
        body = {
            "selectedItems": {"all": False, "included": tasks},
            "value_name": key,
            "value_type": "Number",
            "value": str(value),
        }
        path = f"/api/dm/actions?id=add_data_field&project={project}"
        self.retrying(f"writing {key} in {len(tasks)} tasks", lambda: self.send("POST", path, body))

    def send(self, method: str, path: str, body: object, timeout: float | None = None) -> object:
        """A request with a JSON body; its JSON answer (None for an empty one)."""
        extra = {"timeout": timeout} if timeout else {}
        response = self.client.request(method, path, json=body, **extra)
        try:
            return response.json() if response.content else None
        except ValueError:
            raise LabelStudioError(
                f"Label Studio answered {path} with something else than JSON"
            ) from None

    def delete_prediction(self, prediction: int) -> None:
        self.retrying(
            f"deleting prediction {prediction}",
            lambda: self.client.request("DELETE", f"/api/predictions/{prediction}"),
        )
