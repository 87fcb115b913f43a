"""Run one turn on every side at once and merge their streams.

Contract: ``stream_sides(streams)`` runs each side's async iterator of ``Chunk``s in its own
task and yields ``SideEvent``s in arrival order, so no side waits for another; a side that fails
yields one event with its ``DemoError`` and the others go on; each side ends with exactly
one event whose ``done`` is true. The sides start when ``stream_sides`` is called (inside a
running loop), not at the first event. ``aclose()``, or cancelling the consumer while it
waits, cancels every side's task, which makes vLLM abort those requests; ``halt()`` (from the
same loop) ends the stream at its next read the same way, waking a reader that waits: no event is
read after a halt, not even one queued before it (what a Stop showed is what the turn ends with). ``arrives_within(s)``
says whether an event is ready within ``s`` seconds, without taking it. A side that yields
nothing for ``stall_seconds`` (an engine that hangs) ends with a ``DemoError``: the timeout
cancels its pending read, which aborts its vLLM request like any cancellation; the others go on.
``one_at_a_time=True`` (the *each alone* timing) runs the sides one after another instead, in side
order, in one task: each side's first event carries ``started``, the clock reading when its request
was sent, so its figures count from then and no side's speed includes waiting for another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from inference.compare.metrics import Chunk
from inference.compat import timeout
from inference.errors import DemoError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SideEvent:
    side: int
    chunk: Chunk | None = None  # a piece of the answer
    error: DemoError | None = None
    done: bool = False
    started: float | None = None  # one side at a time: when this side's request was sent (monotonic)

    @property
    def text(self) -> str:
        return self.chunk.text if self.chunk else ""


_HALT = SideEvent(-1, done=True)  # queued by ``halt``: wakes the reader, which then ends


class stream_sides:
    """The merged stream; every side's task starts at once, before the first event is asked for
    (so a caller can render something else while the requests are already on their way)."""

    def __init__(
        self,
        streams: Sequence[AsyncIterator[Chunk]],
        stall_seconds: float | None = None,
        *,
        one_at_a_time: bool = False,
    ):
        self._queue: asyncio.Queue[SideEvent] = asyncio.Queue()
        self._arrived = asyncio.Event()  # set whenever an event is queued
        self._stall = stall_seconds
        if one_at_a_time:
            self._tasks = [asyncio.create_task(self._each(streams), name="sides-one-at-a-time")]
        else:
            self._tasks = [asyncio.create_task(self._pump(i, s), name=f"side-{i}") for i, s in enumerate(streams)]
        self._remaining = len(streams)
        self._halted = False

    async def _each(self, streams: Sequence[AsyncIterator[Chunk]]) -> None:
        """Every side in turn: a side's request is sent when the one before it has ended."""
        for i, stream in enumerate(streams):
            await self._pump(i, stream, started=time.monotonic())

    async def _pump(self, side: int, stream: AsyncIterator[Chunk], started: float | None = None) -> None:
        try:
            while True:
                try:
                    async with timeout(self._stall):
                        chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                self._put(SideEvent(side, chunk=chunk, started=started))
                started = None
        except TimeoutError:
            message = f"No output for {self._stall:.0f} s, so this side was stopped (the engine may be stuck)."
            self._put(SideEvent(side, error=DemoError(message), done=True, started=started))
            return
        except DemoError as err:
            self._put(SideEvent(side, error=err, done=True, started=started))
        except Exception as err:  # an unexpected failure stays on its own side
            log.exception("side %d failed", side)
            self._put(SideEvent(side, error=DemoError(f"unexpected error: {err!r}"), done=True, started=started))
        else:
            self._put(SideEvent(side, done=True, started=started))

    async def arrives_within(self, seconds: float) -> bool:
        """Whether an event is ready now or within ``seconds`` (it stays queued for ``__anext__``)."""
        if self._queue.empty():
            self._arrived.clear()
            try:
                async with timeout(seconds):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        return not self._queue.empty()

    def halt(self) -> None:
        """End the stream at its next read: every side's task is cancelled (its request aborted)."""
        self._halted = True
        self._put(_HALT)

    def _put(self, event: SideEvent) -> None:
        self._queue.put_nowait(event)
        self._arrived.set()

    def __aiter__(self) -> stream_sides:
        return self

    async def __anext__(self) -> SideEvent:
        if not self._remaining or self._halted:
            await self.aclose()
            raise StopAsyncIteration
        try:
            event = await self._queue.get()
        except BaseException:
            await self.aclose()
            raise
        if event is _HALT or self._halted:  # events queued before the halt are dropped too
            await self.aclose()
            raise StopAsyncIteration
        self._remaining -= event.done
        return event

    async def aclose(self) -> None:
        """Cancel every side's task (which aborts its vLLM request) and wait for them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
