"""The training worker: an RQ worker that runs jobs in its own process, without forking.

RQ's default worker forks a child per job; a fork of a process that already ran
multi-threaded torch can hang (GNU OpenMP). The SimpleWorker runs each job in the worker
process itself, so torch and the base model's files are loaded once and stay warm.
"""

from __future__ import annotations

import logging

from rq import Queue, SimpleWorker

from backend.redis_store import connect
from backend.settings import Settings
from backend.training_queue import QUEUE_NAME

log = logging.getLogger(__name__)


def run_worker(settings: Settings, burst: bool = False, name: str | None = None) -> bool:
    from model.runtime import configure_threads

    configure_threads(settings.worker_torch_threads)
    redis = connect(settings.require_redis("worker"))
    queue = Queue(QUEUE_NAME, connection=redis)
    worker = SimpleWorker([queue], connection=redis, name=name)
    log.info(
        "worker %s: %d torch thread(s), training from %s",
        worker.name,
        settings.worker_torch_threads,
        settings.training_source,
    )
    return worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
