"""The long-lived objects a web process shares between requests."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app
from redis import Redis
from redis.exceptions import LockError, RedisError

from backend.metrics import Metrics
from backend.prediction_results import Reading
from backend.redis_store import AnnotationChanges, ProjectConfigs, WebhookAnnotations
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.push.queue import ensure_pushed, request_push
from backend.training.queue import TrainingQueue
from backend.web.model_cache import ModelCache
from backend.web.predict_limits import PredictionSlots
from backend.web.suggestions import TokenCache

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    store: ModelStore
    cache: ModelCache
    queue: TrainingQueue
    metrics: Metrics
    configs: ProjectConfigs
    webhook_annotations: WebhookAnnotations
    changes: AnnotationChanges
    reading: Reading  # how much of the tasks /predict reads
    slots: PredictionSlots  # how many predictions compute at once
    tokens: TokenCache  # interactive suggestions
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="lsbert-background")
    )

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> Services:
        store = ModelStore(settings.model_dir)
        metrics = Metrics(redis)
        return cls(
            settings=settings,
            redis=redis,
            store=store,
            cache=ModelCache(
                store,
                settings.web_torch_threads,
                settings.device,
                settings.inference_runtime,
                settings.model_cache_size,
            ),
            queue=TrainingQueue(redis, settings.train_job_timeout),
            metrics=metrics,
            configs=ProjectConfigs(redis),
            webhook_annotations=WebhookAnnotations(redis),
            changes=AnnotationChanges(redis),
            reading=Reading.of(
                settings, lambda count: metrics.add("lsbert_predict_texts_cut_total", count)
            ),
            slots=PredictionSlots.for_threads(settings.predict_concurrency, settings.web_threads),
            tokens=TokenCache(settings.suggest_model_wait, settings.span_max_chars),
        )

    def request_push(self, project: int, reason: str) -> str | None:
        """Queue a push of the project's served version (API mode, pushes on); its job id.
        What asked for it stands if Redis fails: the next change pushes again."""
        try:
            request = request_push(self.settings, self.redis, self.store, project, reason)
        except (RedisError, LockError) as error:
            log.error("project %s: could not queue a push (%s): %s", project, reason, error)
            return None
        if request is None:
            return None
        outcome = "coalesced" if request.coalesced else "queued"
        self.metrics.add("lsbert_push_requests_total", outcome=outcome)
        return request.job_id

    def push_if_missing(self, project: int) -> None:
        """Off the request's path: /setup answers in milliseconds."""
        self.background.submit(self._push_if_missing, project)

    def _push_if_missing(self, project: int) -> None:
        try:
            if ensure_pushed(self.settings, self.redis, self.store, project):
                self.metrics.add("lsbert_push_requests_total", outcome="queued")
        except (RedisError, LockError) as error:
            log.warning("project %s: could not check its push: %s", project, error)

    def remember_config(self, project: int, label_config: str) -> None:
        """Keep the project's config for webhook-mode training, off the request's path."""
        self.background.submit(self._save_config, project, label_config)

    def _save_config(self, project: int, label_config: str) -> None:
        try:
            self.configs.save(project, label_config)
        except RedisError as error:
            log.warning("could not store the label config of project %s: %s", project, error)


def services() -> Services:
    """The current app's shared objects (inside a request)."""
    return current_app.extensions["lsbert"]
