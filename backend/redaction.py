"""What no log line, error or answer may show: the credentials of a URL (`user:pass@`),
and, in answers, this machine's filesystem paths."""

from __future__ import annotations

import re

HIDDEN = "***"
# scheme://user:password@host, scheme://user@host and scheme://:password@host
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"]*@")
# an absolute path of two parts or more (/home/me/models/3), not a URL's (after a host) nor
# an API route of Label Studio (/api/projects/3/export) nor a number (1/2)
PART = r"[^\s/'\",;:()\[\]{}<>]"
ABSOLUTE_PATH = re.compile(rf"(?<![\w.:/~\\-])/(?!api/)(?:{PART}+/)+({PART}*)")


def without_credentials(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by ***."""
    return URL_USERINFO.sub(rf"\1{HIDDEN}@", text)


def without_paths(text: str) -> str:
    """`text` with every absolute filesystem path shortened to its last part: .../name."""
    return ABSOLUTE_PATH.sub(lambda match: f".../{match.group(1)}", text)


def for_answer(text: str) -> str:
    """An error text as an HTTP answer may carry it: no credentials, no paths."""
    return without_paths(without_credentials(text))
