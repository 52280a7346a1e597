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


class Forbidden(BackendError):
    status = 403
    code = "forbidden"


class NotFound(BackendError):
    status = 404
    code = "not_found"


class PayloadTooLarge(BackendError):
    status = 413
    code = "payload_too_large"


class QueueUnavailable(BackendError):
    status = 503
    code = "queue_unavailable"


class PredictionTimeout(BackendError):
    """A /predict ran past WEB_TIMEOUT; it stopped between two batches."""

    status = 503
    code = "prediction_timeout"


class Busy(BackendError):
    status = 503
    code = "busy"


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


class StoreFull(Exception):
    """The model store's disk (or quota) is full: the version could not be written."""
