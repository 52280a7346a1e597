"""`push_predictions`, the function RQ runs for a push, in the worker (imported by name: the
web process never loads it). The project's push lock keeps one push per project at a time;
a thread renews it, so a killed push's lock expires within PUSH_LOCK_TTL and the push is
resumed (backend.training.push.recovery) without storing anything twice."""

from __future__ import annotations

import logging

from redis import Redis
from redis.lock import Lock
from rq import get_current_job

from backend.labelstudio import LabelStudioClient
from backend.metrics import Metrics
from backend.prediction_results import LoadedVersion, load_version
from backend.redis_store import PUSH_LOCK, SAMPLING_SET, project_key
from backend.settings import Settings
from backend.store import ModelStore
from backend.training.jobs import ProgressRecorder, renewing
from backend.training.push.push import Push, PushCanceled, PushOptions
from backend.training.push.studio import PushStudio

log = logging.getLogger(__name__)
PUSH_LOCK_TTL = 20  # seconds a dead push's lock outlives its last renewal
_loaded: dict[int, LoadedVersion] = {}  # the version last pushed, kept loaded for the next


def push_predictions(project: int, version: str, reason: str = "") -> dict:
    job = get_current_job()
    if job is None:
        raise RuntimeError("push_predictions runs inside an RQ worker: enqueue it, do not call it")
    settings = Settings.from_env()
    metrics = Metrics(job.connection)
    outcome = "failed"
    try:
        result = run_push(settings, job, project, version, reason)
        outcome = str(result["outcome"])
        metrics.add("lsbert_pushed_predictions_total", int(result.get("stored") or 0))
        return result
    finally:
        metrics.add("lsbert_push_jobs_total", outcome=outcome)


def push_lock(redis: Redis, project: int) -> Lock:
    return redis.lock(
        project_key(project, PUSH_LOCK),
        timeout=PUSH_LOCK_TTL,
        thread_local=False,  # renewed from a thread beside the job
        raise_on_release_error=False,
    )


def run_push(settings: Settings, job, project: int, version: str, reason: str) -> dict:  # type: ignore[no-untyped-def]
    if not settings.pushes:
        why = "PUSH_PREDICTIONS=false" if settings.api_configured else "webhook mode (no API key)"
        return {"outcome": "skipped", "version": version, "reason": f"pushes are off: {why}"}
    store = ModelStore(settings.model_dir)
    serving = store.current_version(project)
    if serving != version:
        return canceled(version, f"{version} no longer serves: {serving or 'no version'} does")
    redis: Redis = job.connection
    lock = push_lock(redis, project)
    if not lock.acquire(blocking=True, blocking_timeout=2 * PUSH_LOCK_TTL):
        raise RuntimeError(f"another push of project {project} held its lock for too long")
    try:
        with renewing(lock, PUSH_LOCK_TTL / 4):
            log.info("job %s: pushing %s to project %s (%s)", job.id, version, project, reason)
            return pushed(settings, job, store, lock, project, version)
    finally:
        lock.release()


def pushed(
    settings: Settings, job, store: ModelStore, lock: Lock, project: int, version: str
) -> dict:  # type: ignore[no-untyped-def]
    redis: Redis = job.connection
    first = not redis.exists(project_key(project, SAMPLING_SET))
    options = PushOptions.of(settings, first)
    client = LabelStudioClient(
        settings.label_studio_url, settings.label_studio_api_key, settings.label_studio_timeout
    )

    def stop_reason() -> str | None:
        serving = store.current_version(project)
        if serving != version:
            return f"{version} no longer serves: {serving or 'no version'} does"
        if not lock.owned():
            return "its lock expired: another push of the project may have started"
        return None

    push = Push(
        PushStudio(client, settings.push_retry_for),
        project,
        version,
        options,
        ProgressRecorder(job),
        stop_reason,
    )
    try:
        result = push.run(lambda: loaded_version(store, project, version, settings))
    except PushCanceled as stopped:
        log.info("job %s: push of %s stopped: %s", job.id, version, stopped)
        return {**canceled(version, str(stopped)), **vars(push.record)}
    if options.uncertainty_sampling:
        redis.set(project_key(project, SAMPLING_SET), 1)
    log.info(
        "job %s: pushed %s to project %s: %d predictions stored in %.1f s (%s)",
        job.id,
        version,
        project,
        result["stored"],
        result["seconds"]["total"],
        result["seconds"],
    )
    return result


def canceled(version: str, reason: str) -> dict:
    return {"outcome": "canceled", "version": version, "reason": reason}


def loaded_version(
    store: ModelStore, project: int, version: str, settings: Settings
) -> LoadedVersion:
    """The version's models, loaded once for the pushes of one version (rollbacks, imports)."""
    loaded = _loaded.get(project)
    if loaded is None or loaded.version != version:
        _loaded.clear()  # one version in memory at a time, beside what training holds
        loaded = load_version(store, project, version, settings.device, settings.inference_runtime)
        _loaded[project] = loaded
    return loaded
