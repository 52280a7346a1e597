"""The models a web process serves: loaded on first use, swapped when `current` moves."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from backend.prediction_results import LoadedVersion, load_version
from backend.store import ModelStore

log = logging.getLogger(__name__)


class ModelCache:
    """One loaded version per project, checked against the store's pointer on every use,
    and at most `size` of them: past it, the least recently used project's is unloaded,
    so projects sharing a web process share its memory.

    Reading the pointer is a small file read, so every web process notices a new version
    on its next request, without a restart and without talking to the others.
    """

    def __init__(
        self,
        store: ModelStore,
        torch_threads: int,
        device: str = "auto",
        runtime: str = "torch",
        size: int = 8,
    ) -> None:
        self.store = store
        self.device = device
        self.runtime = runtime
        self.torch_threads = torch_threads
        self.size = size
        self._loaded: OrderedDict[int, LoadedVersion] = OrderedDict()
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._configured = False
        self.closing = False  # set as the process exits: a preload cut short is no error

    def warm_up(self) -> None:
        """Import torch and transformers now, before requests arrive: importing them holds
        the interpreter for seconds, which would stall /health if done on first use."""
        import model.loading  # noqa: F401
        from model.runtime import configure_threads

        if not self._configured:
            configure_threads(self.torch_threads)
            self._configured = True

    def get(self, project: int) -> LoadedVersion | None:
        version = self.store.current_version(project)
        if version is None:
            return None
        loaded = self._loaded.get(project)
        if loaded is not None and loaded.version == version:
            self._used(project)
            return loaded
        with self._lock(project):
            loaded = self._loaded.get(project)
            if loaded is None or loaded.version != version:
                loaded = self._load(project, version)
                self._keep(project, loaded)
            return loaded

    def loaded_projects(self) -> list[int]:
        """The projects whose version is loaded, least recently used first."""
        with self._guard:
            return list(self._loaded)

    def _used(self, project: int) -> None:
        with self._guard:
            if project in self._loaded:
                self._loaded.move_to_end(project)

    def _keep(self, project: int, loaded: LoadedVersion) -> None:
        with self._guard:
            self._loaded[project] = loaded
            self._loaded.move_to_end(project)
            while len(self._loaded) > self.size:
                evicted, old = self._loaded.popitem(last=False)
                log.info("project %s: unloaded version %s (MODEL_CACHE_SIZE)", evicted, old.version)

    def preload(self, project: int) -> None:
        """Load the current version in the background, so the next /predict is quick."""
        version = self.store.current_version(project)
        loaded = self._loaded.get(project)
        if version and (loaded is None or loaded.version != version):
            threading.Thread(target=self._preload, args=(project,), daemon=True).start()

    def _preload(self, project: int) -> None:
        try:
            self.get(project)
        except Exception as error:  # a background thread has no caller to tell
            if self.closing:
                log.info("preloading project %s stopped as the process exits: %s", project, error)
            else:  # /predict will retry
                log.exception("preloading the model of project %s failed", project)

    def _lock(self, project: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(project, threading.Lock())

    def _load(self, project: int, version: str) -> LoadedVersion:
        self.warm_up()
        loaded = load_version(self.store, project, version, self.device, self.runtime)
        log.info("project %s: serving version %s (%s)", project, version, ", ".join(loaded.models))
        return loaded
