"""Times as the backend writes them: UTC, ISO 8601 with a Z, in one format everywhere."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> str:
    """Now, to the second: 2026-11-22T10:45:30Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def compact_stamp() -> str:
    """Now, to the second, as a version name carries it: 20261122T104530."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def iso(moment: datetime | None) -> str | None:
    """A datetime (RQ's, naive UTC or aware) to the millisecond: 2026-11-22T10:45:30.152Z."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
