"""Basic auth: every route but /health; webhooks without it count as triggers only."""

from __future__ import annotations

import hmac

from flask import g, request

from backend.errors import Unauthorized
from backend.settings import Settings

OPEN_PATHS = {"/health", "/"}
TRIGGER_PATHS = {"/webhook"}


def credentials_match(settings: Settings) -> bool:
    try:
        given = request.authorization
    except ValueError:  # werkzeug's base64 decoding of a header that is not ASCII
        return False
    if given is None or given.type != "basic":
        return False
    # bytes, not str: compare_digest refuses str with non-ASCII characters (a TypeError)
    user_ok = hmac.compare_digest(utf8(given.username), utf8(settings.basic_auth_user))
    pass_ok = hmac.compare_digest(utf8(given.password), utf8(settings.basic_auth_pass))
    return user_ok and pass_ok


def utf8(text: str | None) -> bytes:
    # werkzeug decodes the header as UTF-8, replacing what is not; surrogates cannot come
    return (text or "").encode("utf-8", "replace")


def check_request(settings: Settings) -> None:
    """Sets `g.authenticated`; refuses the request where credentials are required."""
    g.authenticated = not settings.basic_auth_enabled or credentials_match(settings)
    if g.authenticated or request.path in OPEN_PATHS or request.path in TRIGGER_PATHS:
        return
    raise Unauthorized(
        "this backend requires basic auth",
        "in Label Studio's Model settings, turn on 'Use basic auth' with BASIC_AUTH_USER "
        "and BASIC_AUTH_PASS",
    )
