"""The engines of all sides, started one after the other, with progress to show.

Contract: ``EnginePool(specs).start()`` starts each engine in order (never concurrently:
vllm#55827) and keeps ``status`` current for a UI to poll; a failed start is recorded in
``status.error`` and stops the sequence. ``warm_up()`` (async, from the loop that will stream)
then runs each engine's lazily compiled paths once so the first user does not wait on them;
it never raises. ``shutdown()`` stops every engine in parallel and
is safe to call more than once, from any thread, at any point of the start.
"""

from __future__ import annotations

import asyncio
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
        self.warm_seconds: float | None = None
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

    async def warm_up(self) -> None:
        t0 = time.monotonic()
        results = await asyncio.gather(*(e.warm_up() for e in self.engines), return_exceptions=True)
        for engine, result in zip(self.engines, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("warm-up of %s failed: %r", engine.spec.title, result)
        self.warm_seconds = time.monotonic() - t0
        log.info("engines warmed up in %.1f s", self.warm_seconds)

    def shutdown(self) -> None:
        with self._lock:
            threads = [threading.Thread(target=e.shutdown, daemon=True) for e in self.engines]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
