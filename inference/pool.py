"""The engines of all sides, started one after the other, with progress to show.

Contract: ``EnginePool(specs).start()`` starts each engine in order (never concurrently:
vllm#55827) and keeps ``status`` current for a UI to poll; a failed start is recorded in
``status.error`` and stops the sequence. ``shutdown()`` stops every engine in parallel and
is safe to call more than once, from any thread, at any point of the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference.engine import Engine
from inference.spec import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolStatus:
    ready: bool
    message: str
    error: str | None = None


class EnginePool:
    def __init__(self, specs: Sequence[ModelSpec]):
        self.engines = [Engine(s) for s in specs]
        self.status = PoolStatus(False, "Waiting to start the engines…")
        self.start_seconds: float | None = None
        self._lock = threading.Lock()

    @property
    def specs(self) -> list[ModelSpec]:
        return [e.spec for e in self.engines]

    def start(self) -> None:
        t0 = time.monotonic()
        n = len(self.engines)
        for i, engine in enumerate(self.engines, 1):
            self.status = PoolStatus(False, f"Loading {engine.spec.title} ({i}/{n})…")
            try:
                engine.start()
            except Exception as err:
                log.exception("engine %s failed to start", engine.spec.title)
                self.status = PoolStatus(False, "Engine start failed.", f"{engine.spec.title}: {err}")
                raise
        self.start_seconds = time.monotonic() - t0
        self.status = PoolStatus(True, f"Engines ready in {self.start_seconds:.0f} s.")

    def shutdown(self) -> None:
        with self._lock:
            threads = [threading.Thread(target=e.shutdown, daemon=True) for e in self.engines]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
