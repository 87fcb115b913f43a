"""Who gets a turn answered now: the engines' slots, the places waiting for one, and each user's share.

Contract: ``TurnQueue(capacity, max_queue, user_limits)`` lets ``capacity`` turns run at once (the
engines' batch size) and up to ``max_queue`` more wait for a free slot. ``admit(request)`` is the
user's place among the turns answered now, held for the whole turn: entering it raises
``DemoError`` (which the page shows) when every slot is taken and the waiting places are full
("busy, please retry") or when the user is over the per-user limits (``inference.deploy.limits``),
or the user's network address over its limits (turns a minute and at once, all its users
together). ``user(request)`` is who a user is (``ui.viewers.key``: a signed-in name, a browser,
or an address); ``running`` and ``waiting`` count the turns answered and waiting now.
``wait_for_slot()`` takes a slot, yielding the line that tells the user their place meanwhile;
``release()`` gives it back. Gradio lets every turn handler in at once, so that the waiting
happens here, where a user can be told.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from inference.compat import timeout
from inference.deploy.limits import Admission, Refused, UserLimits
from ui import viewers


class Halted(Exception):
    """A waiting turn was stopped (``ui.cancel``) before it got a slot: nothing is held."""


def user(request: Any) -> str:
    """Who sends a turn (THE viewer key, for the per-user limits and anything else kept per viewer):
    ``"hf:NAME"`` when signed in, ``"browser:ID"`` for a browser that loaded the page (its signed
    cookie), ``"address:ADDR"`` otherwise (``ui.viewers``)."""
    return viewers.key(request)


class TurnQueue:
    def __init__(self, capacity: int, max_queue: int, user_limits: UserLimits = UserLimits(running=0, per_minute=0)):
        self.capacity = capacity  # turns answered at once
        self.max_queue = max_queue  # turns that may wait for a slot
        self.admission = Admission(user_limits)  # turns per user (``user``), at once and per minute
        # turns per network address, a minute and at once: a ceiling that fresh viewer cookies do not multiply
        self.flood = Admission.flood(user_limits.address_per_minute, running=user_limits.address_running)
        self.waiting = 0  # turns waiting for a slot now
        self.running = 0  # turns holding a slot now
        self._slots = asyncio.Semaphore(capacity)

    @contextlib.contextmanager
    def admit(self, request: Any) -> Iterator[None]:
        """The user's place among the turns answered now (see the module's contract)."""
        if self._slots.locked() and self.waiting >= self.max_queue:
            raise Refused(
                f"The demo is busy ({self.capacity} turns being answered, {self.waiting} waiting). "
                "Please retry in a minute; your message is still in the box.",
                "busy",
            )
        self.admission.forget_idle()
        self.flood.forget_idle()
        with self.flood.admit(viewers.address(request)), self.admission.admit(user(request)):
            yield

    async def wait_for_slot(self, halt: asyncio.Event | None = None) -> AsyncGenerator[str, None]:
        """Take one of the ``capacity`` slots; while none is free, yield the line that tells the user
        their place, again whenever it changes (checked every second; each render costs the server,
        and many may wait). Cancelled while waiting (closed tab), or ``halt`` set (Stop, Clear; a
        slot taken just as it was set is given back): ``Halted`` is raised and nothing is held."""
        if not self._slots.locked():
            await self._slots.acquire()
            self.running += 1
            return
        self.waiting += 1
        said = None
        try:
            while True:
                line = (
                    f"⏳ The demo is busy: your turn starts when one of the {self.capacity} being answered "
                    f"ends ({self.waiting} waiting)."
                )
                if line != said:
                    said = line
                    yield line
                if halt is not None and halt.is_set():
                    raise Halted
                try:
                    async with timeout(1.0):
                        await self._slots.acquire()
                except TimeoutError:
                    continue
                if halt is not None and halt.is_set():
                    self._slots.release()
                    raise Halted
                self.running += 1
                return
        finally:
            self.waiting -= 1

    def release(self) -> None:
        """Give back the slot ``wait_for_slot`` took."""
        self.running -= 1
        self._slots.release()
