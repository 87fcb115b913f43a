"""Run one turn on every side at once and merge their streams.

Contract: ``stream_sides(streams)`` runs each side's async iterator of ``Chunk``s in its own
task and yields ``SideEvent``s in arrival order, so no side waits for another; a side that fails
yields one event with its ``DemoError`` and the others go on; each side ends with exactly
one event whose ``done`` is true. Closing or cancelling the consumer cancels every side's
task, which makes vLLM abort those requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from inference.errors import DemoError
from inference.metrics import Chunk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SideEvent:
    side: int
    chunk: Chunk | None = None  # a piece of the answer
    error: DemoError | None = None
    done: bool = False

    @property
    def text(self) -> str:
        return self.chunk.text if self.chunk else ""


async def stream_sides(streams: Sequence[AsyncIterator[Chunk]]) -> AsyncIterator[SideEvent]:
    queue: asyncio.Queue[SideEvent] = asyncio.Queue()

    async def pump(side: int, stream: AsyncIterator[Chunk]) -> None:
        try:
            async for chunk in stream:
                queue.put_nowait(SideEvent(side, chunk=chunk))
        except DemoError as err:
            queue.put_nowait(SideEvent(side, error=err, done=True))
        except Exception as err:  # an unexpected failure stays on its own side
            log.exception("side %d failed", side)
            queue.put_nowait(SideEvent(side, error=DemoError(f"unexpected error: {err!r}"), done=True))
        else:
            queue.put_nowait(SideEvent(side, done=True))

    tasks = [asyncio.create_task(pump(i, s), name=f"side-{i}") for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            event = await queue.get()
            remaining -= event.done
            yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
