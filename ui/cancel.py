"""How a turn ends early: one ``Cancel`` per turn, and every way of ending it goes through that object.

Contract: ``Turns.open(session)`` registers a turn's ``Cancel`` for as long as the turn's handler
holds it (a context manager). ``Turns.stop(session, why)`` ends every turn of that session:
``"stop"`` (the Stop button), ``"clear"`` (Clear, a pane's trash icon: the turn's last render
shows the emptied conversation), ``"leave"`` (the tab closed); ``Turns.supersede(session)`` ends
the session's turns that are only cross-scoring (``"superseded"``: the next turn renders the page
from then on) and waits until their handlers have let go of their slots. ``Cancel.stop`` is the
one place where an answer is marked stopped (``ui.views.STOPPED``, at the moment it was asked):
it sets ``event`` (which a turn waiting for a slot and its cross-scoring watch) and halts the
turn's merged stream once ``send`` has given it one, which cancels every side's task and so aborts
its vLLM request. The turn itself calls ``settle`` when its stream has ended however it ended: the
requests are closed and any answer still open is marked stopped. Never stopped from another loop
or thread: the handlers run on the server's loop.

Not Gradio's ``cancels=``, which kills a handler wherever it is: here the handler ends itself, so
its last render is the stopped turn, and a turn still waiting for a slot ends too (its message
goes back to the box).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from inference.compare.merge import stream_sides
from inference.compare.transcript import Exchange
from ui.views import STOPPED

Why = Literal["stop", "clear", "leave", "superseded"]


def stopped(ex: Exchange) -> bool:
    """Whether any of ``ex``'s answers was ended by a stop (not by its engine or an error)."""
    return any(a.note == STOPPED for a in ex.answers)


@dataclass(eq=False)
class Cancel:
    """One turn's way to end early (see the module's contract)."""

    why: set[str] = field(default_factory=set)  # every reason it was asked to stop
    event: asyncio.Event = field(default_factory=asyncio.Event)  # set once it was asked
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # set once its handler let go of its slot
    exchange: Exchange | None = None  # the turn as sent, and its stream: once ``send`` ran
    merged: stream_sides | None = None
    scoring: bool = False  # its answers have ended and are being cross-scored (a new turn ends that)

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    @property
    def cleared(self) -> bool:
        return "clear" in self.why

    @property
    def superseded(self) -> bool:
        return "superseded" in self.why

    @property
    def answering(self) -> bool:
        """Its answers are streaming now."""
        return self.exchange is not None and not self.exchange.done

    def stop(self, why: Why) -> None:
        """End the turn from outside its handler, wherever it is."""
        self.why.add(why)
        self._mark()
        self.event.set()
        if self.merged is not None:
            self.merged.halt()

    def send(self, exchange: Exchange, merged: stream_sides) -> None:
        """The turn's requests are on their way: a stop from now on halts them."""
        self.exchange, self.merged = exchange, merged
        if self.stopped:
            merged.halt()

    async def settle(self) -> None:
        """The stream has ended (every answer, a stop, or the handler closed): every request is
        closed (vLLM aborts an unfinished one) and every answer still open is marked stopped."""
        if self.merged is not None:
            await self.merged.aclose()
        self._mark()

    def _mark(self) -> None:
        if self.exchange is not None:
            now = time.monotonic()
            for answer in self.exchange.answers:
                answer.finish(now, STOPPED)  # an answer already done keeps its ending


class Turns:
    """Every session's turns under way, each by its ``Cancel``."""

    def __init__(self) -> None:
        self._by_session: dict[str, list[Cancel]] = {}

    @contextlib.contextmanager
    def open(self, session: str) -> Iterator[Cancel]:
        """A new turn of ``session``, registered until the block ends (then ``ended`` is set)."""
        cancel = Cancel()
        self._by_session.setdefault(session, []).append(cancel)
        try:
            yield cancel
        finally:
            mine = self._by_session.get(session, [])
            mine.remove(cancel)
            if not mine:
                self._by_session.pop(session, None)
            cancel.ended.set()

    def stop(self, session: str | None, why: Why) -> None:
        """End every turn of ``session`` (none: nothing to end)."""
        for cancel in list(self._by_session.get(session or "", [])):
            cancel.stop(why)

    async def supersede(self, session: str) -> None:
        """End this session's cross-scoring, if any, and wait until its handler has let go of its
        slot, so that a new turn never waits behind the scores of the last one."""
        for cancel in [c for c in self._by_session.get(session, []) if c.scoring]:
            cancel.stop("superseded")
            await cancel.ended.wait()

    def answering(self) -> list[Exchange]:
        """The turns whose answers are streaming now, all sessions together."""
        return [c.exchange for turns in self._by_session.values() for c in turns if c.answering and c.exchange]
