"""The engines of all sides, started one after the other, with progress to show.

Contract: ``EnginePool(specs)`` makes one engine per spec (``make``: ``backends.make_engine``, or a
fake in tests) and holds them as ``Backend``s; ``start()`` starts each engine in order (never concurrently:
vllm#55827) and keeps ``status`` current for a UI to poll; a failed start is recorded in
``status.error`` and stops the sequence. ``warm_up()`` (async, from the loop that will stream)
then runs each engine's lazily compiled paths once so the first user does not wait on them;
it never raises. ``watch()`` (async, same loop) restarts, one at a time, any engine whose
EngineCore died, and keeps ``notes`` (per engine, what a UI should say about it) current.
``shutdown()`` stops every engine in parallel and is safe to call more than once, from any
thread, at any point of the start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference.engines.backends import EngineFactory, make_engine
from inference.engines.base import Backend
from inference.spec import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolStatus:
    """What the pool is doing, for a UI to show: ``ready`` once every engine started; ``message`` in
    words; ``error`` the failed start, if one failed."""

    ready: bool
    message: str
    error: str | None = None


class EnginePool:
    """The engines of all sides, in the specs' order: started one at a time, watched, and shut down
    together (the module's contract). ``make`` builds each side's engine from its spec."""

    def __init__(self, specs: Sequence[ModelSpec], make: EngineFactory = make_engine):
        self.engines: list[Backend] = [make(s) for s in specs]
        self.status = PoolStatus(False, "Waiting to start the engines…")
        self.start_seconds: float | None = None
        self.warm_seconds: float | None = None
        self._lock = threading.Lock()
        self.notes: dict[int, str] = {}  # engine index -> what is wrong with it now
        self.failed: set[int] = set()  # engines that could not be restarted
        self._closing = False

    @property
    def specs(self) -> list[ModelSpec]:
        """Each side's spec, in order."""
        return [e.spec for e in self.engines]

    def start(self) -> None:
        """Start every engine in order (blocking); a failure is recorded in ``status`` and re-raised."""
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
        self.status = PoolStatus(True, self.ready_message())

    def ready_message(self) -> str:
        """The status line once the engines are up: each quantized side's scheme and, once
        ``warm_up`` has read it from the engine, the kernel its layers run and that route in words."""
        said = ""
        for e in self.engines:
            fp = e.footprint
            if fp.scheme and fp.kernel:
                said += f" {e.spec.label} runs {fp.scheme} with {fp.kernel}: {fp.route}."
            elif fp.scheme:
                said += f" {e.spec.label} runs {fp.scheme}."
            if e.cannot_show:
                said += f" {e.spec.label}'s server is not vLLM: it cannot show {', '.join(e.cannot_show)}."
        return f"Engines ready in {self.start_seconds or 0:.0f} s.{said}"

    async def warm_up(self) -> None:
        """Run each engine's lazily compiled paths once, concurrently; failures are logged, never raised."""
        t0 = time.monotonic()
        results = await asyncio.gather(*(e.warm_up() for e in self.engines), return_exceptions=True)
        for engine, result in zip(self.engines, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("warm-up of %s failed: %r", engine.spec.title, result)
        self.warm_seconds = time.monotonic() - t0
        if self.status.ready:  # the kernels the engines reported while warming up
            self.status = PoolStatus(True, self.ready_message())
        log.info("engines warmed up in %.1f s", self.warm_seconds)

    def health(self) -> dict[str, object]:
        """Every engine's state, for health checks: ``ok`` when all are started and alive;
        ``failed`` when the app cannot recover on its own (a start failed, a restart failed);
        ``warmed_up`` once the first requests' one-off compilations are done (``warm_up``)."""
        states = []
        for i, e in enumerate(self.engines):
            state = "restarting" if e.restarting else "alive" if e.alive else "dead" if e.started else "loading"
            if i in self.failed:
                state = "failed"
            states.append({"label": e.spec.label, "model": e.spec.model_name, "state": state, "restarts": e.restarts})
        ok = self.status.ready and all(s["state"] == "alive" for s in states)
        failed = self.status.error is not None or bool(self.failed)
        return {
            "ok": ok,
            "failed": failed,
            "ready": self.status.ready,
            "warmed_up": self.warm_seconds is not None,
            "status": self.status.message,
            "error": self.status.error,
            "engines": states,
        }

    async def watch(self, interval: float = 1.0) -> None:
        """Restart dead engines until cancelled (vLLM marks an engine dead when its EngineCore exits)."""
        while True:
            await asyncio.sleep(interval)
            if not self.status.ready or self._closing:
                continue
            for i, engine in enumerate(self.engines):
                if engine.alive or engine.restarting or self._closing:
                    continue
                title = engine.spec.title
                log.warning("engine %s died; restarting it", title)
                self.notes[i] = f"{title} stopped unexpectedly; restarting it (the other side keeps working)…"
                t0 = time.monotonic()
                try:
                    with self._lock:  # never beside a shutdown
                        if self._closing:
                            return
                        engine.restarting = True
                    await asyncio.to_thread(engine.restart)
                    await engine.warm_up()
                except Exception as err:
                    log.exception("restart of %s failed", title)
                    self.notes[i] = f"{title} stopped and could not be restarted ({err}); restart the app."
                    self.failed.add(i)
                    return
                log.info("engine %s restarted in %.1f s", title, time.monotonic() - t0)
                self.notes[i] = f"{title} was restarted after it stopped ({time.monotonic() - t0:.0f} s)."

    def shutdown(self) -> None:
        """Stop every engine, in parallel; safe more than once, from any thread, at any point of the start."""
        with self._lock:
            self._closing = True
            threads = [threading.Thread(target=e.shutdown, daemon=True) for e in self.engines]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
