"""Named exceptions, rendered at the HTTP boundary as JSON: what was wrong and how to fix it."""

from __future__ import annotations


class BackendError(Exception):
    """An error the client can act on. `fix` says how."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class BadRequest(BackendError):
    status = 400
    code = "bad_request"


class UnsupportedLabelConfig(BadRequest):
    code = "unsupported_label_config"


class Unauthorized(BackendError):
    status = 401
    code = "unauthorized"


class NotFound(BackendError):
    status = 404
    code = "not_found"


class QueueUnavailable(BackendError):
    status = 503
    code = "queue_unavailable"


class ConfigError(Exception):
    """A setting read from the environment is invalid; the message names it and the fix."""


class LabelStudioError(Exception):
    """The Label Studio API could not be reached or refused a request. `status` is the HTTP
    status of a refusal, None where Label Studio was not reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later: unreachable, busy or failing."""
        return self.status is None or self.status >= 500 or self.status == 429


class TrainingSkipped(Exception):
    """A training job found nothing to learn from; not a failure of the job."""
