"""Logging, configured once per process."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
    )
    # urllib3 logs request URLs with their query at DEBUG; transformers draws progress bars.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
