"""Basic auth: every route but /health; webhooks without it count as triggers only."""

from __future__ import annotations

import hmac

from flask import g, request

from backend.errors import Unauthorized
from backend.settings import Settings

OPEN_PATHS = {"/health", "/"}
TRIGGER_PATHS = {"/webhook"}


def credentials_match(settings: Settings) -> bool:
    given = request.authorization
    if given is None or given.type != "basic":
        return False
    user_ok = hmac.compare_digest(str(given.username or ""), settings.basic_auth_user)
    pass_ok = hmac.compare_digest(str(given.password or ""), settings.basic_auth_pass)
    return user_ok and pass_ok


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
