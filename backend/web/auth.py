"""Basic auth: every route but Label Studio's health check (`/health`, and `/` unless a
browser asks for the page); webhooks without it count as triggers only. And no browser
request from another site may change anything: a page elsewhere could otherwise post to
this backend with the credentials the browser keeps for it."""

from __future__ import annotations

import hmac

from flask import g, request

from backend.errors import Forbidden, Unauthorized
from backend.settings import Settings
from backend.web.pages import wants_html

OPEN_PATHS = {"/health", "/"}
TRIGGER_PATHS = {"/webhook"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# what a browser's Sec-Fetch-Site says of a request its own page (or the address bar) made
OWN_SITE = {"same-origin", "none"}


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


def is_open() -> bool:
    """Label Studio's health check; `/` asked for as a page is the operator's, behind auth."""
    return request.path in OPEN_PATHS and not (request.path == "/" and wants_html())


def check_request(settings: Settings) -> None:
    """Sets `g.authenticated`; refuses the request where credentials are required, and a
    browser's request from another site that would change something."""
    refuse_cross_site()
    g.authenticated = not settings.basic_auth_enabled or credentials_match(settings)
    if g.authenticated or is_open() or request.path in TRIGGER_PATHS:
        return
    if wants_html():
        raise Unauthorized(
            "this page requires basic auth",
            "reload and sign in with the backend's BASIC_AUTH_USER and BASIC_AUTH_PASS",
        )
    raise Unauthorized(
        "this backend requires basic auth",
        "in Label Studio's Model settings, turn on 'Use basic auth' with BASIC_AUTH_USER "
        "and BASIC_AUTH_PASS",
    )


def refuse_cross_site() -> None:
    """Label Studio, curl and scripts send neither Sec-Fetch-Site nor Origin; browsers send
    one or both, and this backend's own page is same-origin."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None:
        cross = site not in OWN_SITE
    else:
        cross = origin is not None and origin != request.host_url.rstrip("/")
    if cross:
        raise Forbidden(
            "a page of another site may not change this backend",
            "use the backend's own page, or send the request without a browser (curl, "
            "Label Studio)",
        )
