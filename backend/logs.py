"""Logging, configured once per process; every record of every logger (gunicorn's and RQ's
included, whatever their handlers) is one line that no request can forge, without the
credentials of a URL."""

from __future__ import annotations

import logging
import os
import traceback

from backend.redaction import without_credentials

CONTINUATION = "    | "  # starts each line of a traceback: it never looks like a record


class OneLineRecord(logging.LogRecord):
    """A record whose message has CR and LF escaped and URLs without their userinfo, so a
    newline sent in a URL path or a header cannot start a forged record, and whose
    traceback, necessarily several lines, has each line marked as a continuation."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.exc_info and self.exc_info[0] is not None:
            # formatters use exc_text when it is set: every handler shows this one
            self.exc_text = continuation(traceback.format_exception(*self.exc_info))
        if self.stack_info:
            self.stack_info = continuation([self.stack_info])

    def getMessage(self) -> str:  # logging's name
        return one_line(without_credentials(super().getMessage()))


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def continuation(parts: list[str]) -> str:
    lines = "".join(parts).rstrip("\n").replace("\r", "\\r").split("\n")
    return "\n".join(CONTINUATION + without_credentials(line) for line in lines)


def configure_logging(level: str) -> None:
    logging.setLogRecordFactory(OneLineRecord)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
    )
    # urllib3 logs request URLs with their query at DEBUG; transformers draws progress bars.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
