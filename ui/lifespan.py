"""The engines' life beside the server: warmed up once started, then watched.

Contract: ``lifespan(pool)`` is for ``launch(app_kwargs={"lifespan": ...})``: in the server's event
loop it waits until the pool's engines are started, warms them up once, then watches them (a dead
engine is restarted, ``EnginePool.watch``); the task ends with the server. Starting and shutting
the engines down is the caller's (``app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from inference.engines.pool import EnginePool


def lifespan(pool: EnginePool) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def span(_app: Any) -> AsyncIterator[None]:
        async def warm_when_started() -> None:
            while not (pool.status.ready or pool.status.error):
                await asyncio.sleep(0.2)
            if pool.status.ready:
                await pool.warm_up()
                await pool.watch()

        task = asyncio.create_task(warm_when_started())
        try:
            yield
        finally:
            task.cancel()

    return span
