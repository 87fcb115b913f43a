"""The engines' life beside the server: warmed up once started, then watched.

Contract: ``lifespan(pool)`` is for ``launch(app_kwargs={"lifespan": ...})``: in the server's event
loop it waits until the pool's engines are started, warms them up once, then watches them (a dead
engine is restarted, ``EnginePool.watch``); the task ends with the server. With
``closed_session_seconds``, the sessions of closed tabs are forgotten that long after their last
use (``ui.sessions``). Starting and shutting the engines down is the caller's (``app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from inference.engines.pool import EnginePool
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
                await pool.watch()

        tasks = [asyncio.create_task(warm_when_started())]
        if closed_session_seconds is not None and hasattr(app, "state_holder"):
            tasks.append(asyncio.create_task(sweep(app.state_holder, closed_session_seconds)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    return span
