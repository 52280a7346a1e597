"""Request bodies: read within REQUEST_MAX_MB, parsed as JSON, and refused with a 400 that
says why when they are nested deeper than any Label Studio body or hold text that cannot
be encoded (a lone UTF-16 surrogate, which JSON's \\ud800 escapes can carry)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from backend.errors import BadRequest, PayloadTooLarge

# Label Studio's deepest body (/predict: tasks, a task, annotations, one, result, a region,
# value, labels) nests 9 levels; Python's parser gives up near 1,000 with a RecursionError
MAX_DEPTH = 64
NOT_AN_OBJECT_FIX = "send a JSON object with the header Content-Type: application/json"
DRAIN_CHUNK = 64 * 1024
DRAIN_SECONDS = 5.0


def too_large(limit_mb: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than REQUEST_MAX_MB={limit_mb} MB",
        "send fewer tasks per request (select fewer tasks in Label Studio's Data Manager "
        "before 'Retrieve predictions'), or raise REQUEST_MAX_MB on the backend",
    )


def json_body(optional: bool = False) -> dict:
    """The request's JSON object; `optional`: an empty body reads as {}."""
    if optional and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    if not request.is_json:
        raise BadRequest("the request body is not a JSON object", NOT_AN_OBJECT_FIX)
    body = parse_json(read_body())
    if optional and body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the request body is not a JSON object", NOT_AN_OBJECT_FIX)
    check_json(body)
    return body


def read_body() -> bytes:
    limit = request.max_content_length or 0
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large(limit // 2**20) from None
    # a body without Content-Length (chunked): werkzeug stops reading at the limit, and
    # what it read would parse as truncated JSON
    if request.content_length is None and limit and len(data) >= limit:
        raise too_large(limit // 2**20)
    return data


def parse_json(data: bytes) -> object:
    try:
        return json.loads(data)
    except RecursionError:
        raise nested_too_deep() from None
    except ValueError as error:  # UnicodeDecodeError included
        raise BadRequest(
            f"the request body is not valid JSON: {str(error)[:200]}", NOT_AN_OBJECT_FIX
        ) from None


def nested_too_deep() -> BadRequest:
    return BadRequest(
        f"the request body nests JSON more than {MAX_DEPTH} levels deep",
        "send the body as Label Studio does: its bodies nest fewer than 10 levels",
    )


def check_json(body: dict | list) -> None:
    """Depth and text of every value, without recursion (a deep body must not overflow)."""
    pending: list[tuple[dict | list, int]] = [(body, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise nested_too_deep()
        values: Iterable[object] = container
        if isinstance(container, dict):
            for name in container:
                check_text(name)
            values = container.values()
        for value in values:
            if isinstance(value, str):
                check_text(value)
            elif isinstance(value, dict | list):
                pending.append((value, depth + 1))


def check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError as error:
        raise BadRequest(
            f"the request body holds text that is not valid Unicode ({error.reason} at "
            f"character {error.start})",
            "send UTF-8 text: a lone UTF-16 surrogate escape such as \\ud800 is not a character",
        ) from None


def drain_when_answered(response: Response) -> Response:
    """After the answer is sent, read and drop what is left of the body (a request refused
    before its body was read: 401, 413). gunicorn drains only 64 KiB, then closes a
    connection it announced as keep-alive, and the client's next request on it fails."""
    stream = request.input_stream  # the WSGI server's: never past what the client sent
    limit = 4 * (request.max_content_length or 0)  # past that, let gunicorn close
    response.call_on_close(lambda: drain(stream, limit))  # a GET may carry a body too
    return response


def drain(stream, limit: int) -> None:  # type: ignore[no-untyped-def]
    """Read `stream` to its end in small chunks (memory stays flat), within `limit` bytes and
    DRAIN_SECONDS."""
    deadline, drained = time.monotonic() + DRAIN_SECONDS, 0
    try:
        while drained < limit and time.monotonic() < deadline:
            chunk = stream.read(DRAIN_CHUNK)
            if not chunk:
                return
            drained += len(chunk)
    except (OSError, ValueError):  # the client went away: nothing left to keep
        return
