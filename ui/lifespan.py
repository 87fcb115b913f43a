"""The engines' life beside the server: warmed up once started, then watched.

Contract: ``lifespan(pool)`` is for ``launch(app_kwargs={"lifespan": ...})``: in the server's event
loop it waits until the pool's engines are started, warms them up once, moves what is loaded by then
out of the garbage collector's reach (``gc.freeze``), then watches them (a dead
engine is restarted, ``EnginePool.watch``); the task ends with the server. With
``closed_session_seconds``, the sessions of closed tabs are forgotten that long after their last
use (``ui.sessions``). Starting and shutting the engines down is the caller's (``app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

from inference.engines.pool import EnginePool
from ui.gradio_adapter import state_holder
from ui.sessions import sweep


def lifespan(
    pool: EnginePool, closed_session_seconds: float | None = None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def span(app: Any) -> AsyncIterator[None]:
        async def warm_when_started() -> None:
            while not (pool.status.ready or pool.status.error):
                await asyncio.sleep(0.2)
            if pool.status.ready:
                await pool.warm_up()
                # Everything loaded so far (torch, vLLM, Gradio, the engines' clients) lives as long as the
                # server: moved out of the collector's reach, a full collection no longer walks it while
                # holding the GIL (one stalled /healthz 285 ms once vLLM had been loaded in the process).
                gc.collect()
                gc.freeze()
                await pool.watch()

        tasks = [asyncio.create_task(warm_when_started())]
        holder = state_holder(app)
        if closed_session_seconds is not None and holder is not None:
            tasks.append(asyncio.create_task(sweep(holder, closed_session_seconds)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    return span
