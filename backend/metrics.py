"""Counters shared by every web and worker process, kept in Redis, shown as Prometheus text."""

from __future__ import annotations

import logging
import re
import time

from redis import Redis
from redis.exceptions import RedisError

from backend.redis_store import METRICS, as_text, key

log = logging.getLogger(__name__)

PAUSE_AFTER_ERROR = 10.0  # seconds
LABEL = r'[a-z_]+="(?:[^"\\\n]|\\[\\"n])*"'
# a stored series that is not one (written by an older release) is never shown
SERIES = re.compile(rf"[a-z_]+(?:\{{{LABEL}(?:,{LABEL})*\}})?")
HELP = {
    "lsbert_http_requests_total": "HTTP requests answered, by route and status",
    "lsbert_predicted_tasks_total": "tasks answered by /predict",
    "lsbert_prediction_results_total": "results (choices) returned by /predict",
    "lsbert_predict_texts_cut_total": "texts /predict read only up to SPAN_MAX_CHARS",
    "lsbert_webhooks_total": "webhooks received, by action",
    "lsbert_training_requests_total": "training requests, by what happened to them",
    "lsbert_training_jobs_total": "training jobs ended, by outcome",
    "lsbert_training_seconds_total": "seconds spent in training jobs",
    "lsbert_push_requests_total": "push requests, by what happened to them",
    "lsbert_push_jobs_total": "push jobs ended, by outcome",
    "lsbert_pushed_predictions_total": "predictions stored in Label Studio by pushes",
}


# The webhook actions Label Studio sends (webhooks/models.py of 1.23, and the train call's
# START_TRAINING): a label takes these values or "other", so no request adds series at will.
WEBHOOK_ACTIONS = frozenset(
    {
        "PROJECT_CREATED",
        "PROJECT_UPDATED",
        "PROJECT_DELETED",
        "TASKS_CREATED",
        "TASKS_DELETED",
        "ANNOTATION_CREATED",
        "ANNOTATIONS_CREATED",
        "ANNOTATION_UPDATED",
        "ANNOTATIONS_DELETED",
        "LABEL_LINK_CREATED",
        "LABEL_LINK_UPDATED",
        "LABEL_LINK_DELETED",
        "REVIEW_CREATED",
        "REVIEW_UPDATED",
        "REVIEWS_DELETED",
        "START_TRAINING",
    }
)
OTHER_ACTION = "other"


def webhook_action_label(action: str) -> str:
    return action if action in WEBHOOK_ACTIONS else OTHER_ACTION


def escape_label(value: object) -> str:
    """A label value as the Prometheus text format writes it: backslash, double quote and
    newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series(name: str, **labels: object) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Metrics:
    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis
        self._paused_until = 0.0

    def add(self, name: str, amount: float = 1, **labels: object) -> None:
        """Count something; never fail nor slow down the request or job being counted."""
        if self.redis is None or not amount or time.monotonic() < self._paused_until:
            return
        try:
            self.redis.hincrbyfloat(key(METRICS), series(name, **labels), amount)
        except RedisError as error:
            # Redis is away: stop trying for a while, so /health and /setup stay fast.
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR
            log.warning("could not record metric %s: %s", name, error)

    def snapshot(self) -> dict[str, float]:
        if self.redis is None:
            return {}
        raw = self.redis.hgetall(key(METRICS))
        return {as_text(k): float(v) for k, v in raw.items()}

    def render(self) -> str:
        values = self.snapshot()
        lines = []
        for name, text in HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            lines += [
                f"{s} {format_number(v)}"
                for s, v in sorted(values.items())
                if (s == name or s.startswith(name + "{")) and SERIES.fullmatch(s)
            ]
        return "\n".join(lines) + "\n"


def format_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}"
