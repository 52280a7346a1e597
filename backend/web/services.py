"""The long-lived objects a web process shares between requests."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from backend.metrics import Metrics
from backend.redis_store import AnnotationChanges, ProjectConfigs, WebhookAnnotations
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.queue import TrainingQueue
from backend.web.model_cache import ModelCache
from backend.web.predict_limits import PredictionSlots, PredictLimits

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
    limits: PredictLimits
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
            limits=PredictLimits(
                settings.predict_batch_size,
                settings.span_max_chars,
                PredictionSlots.for_threads(settings.predict_concurrency, settings.web_threads),
                lambda count: metrics.add("lsbert_predict_texts_cut_total", count),
            ),
        )

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
