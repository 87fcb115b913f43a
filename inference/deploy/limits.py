"""How many turns one user may run: at once, and per minute; and how many one network address may run and start.

Contract: ``Admission(limits)`` counts turns per user key (the app's viewer key: a signed-in name,
a browser, or an address; a Gradio session already runs one turn at a time). ``admit(key)`` is a
context manager for one turn: it raises ``Refused`` (a ``DemoError`` saying when to retry, with a
``reason`` for the metrics) when that user already runs ``running`` turns or started
``per_minute`` turns in the last 60 s, and frees the running slot on exit. ``Admission.flood(n,
running=m)`` is the same bookkeeping per network address, all its users together
(``UserLimits.address_per_minute`` and ``address_running``: the ceiling above the per-user limits
that a script minting a new viewer per request cannot multiply), worded for an address; and
``Admission.flood(n)`` with a context entered and left at once is a plain "n a minute" counter
(the viewer cookies an address is given, ``ui.viewers``). A limit of 0 is no limit. Pure
bookkeeping for one event loop: no locks, no I/O.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from inference.errors import DemoError

WINDOW = 60.0  # seconds: what "per minute" counts


@dataclass(frozen=True)
class UserLimits:
    """How much one user, and one network address (all its users), may ask of the demo: turns at once
    and turns per minute (0: no limit)."""

    running: int = 2  # turns one user may have answered at the same time (several tabs); 0: no limit
    per_minute: int = 20  # turns one user may start in any 60 s; 0: no limit
    address_per_minute: int = 0  # turns one network address may start in any 60 s (a flood limit); 0: none
    address_running: int = 0  # turns one network address may have answered at once, all its users; 0: none


class Refused(DemoError):
    """A turn refused by a limit; ``reason`` names which, for the metrics."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class Admission:
    def __init__(
        self, limits: UserLimits = UserLimits(), clock: Callable[[], float] = time.monotonic, *, per: str = "user"
    ):
        self.limits = limits
        self._clock = clock
        self.per = per  # what a key is, in the messages: "user" or "address"
        self._running: dict[str, int] = defaultdict(int)
        self._started: dict[str, deque[float]] = defaultdict(deque)

    @contextlib.contextmanager
    def admit(self, key: str) -> Iterator[None]:
        now, limits = self._clock(), self.limits
        started = self._started[key]
        while started and now - started[0] >= WINDOW:
            started.popleft()
        if limits.running and self._running[key] >= limits.running:
            n = self._running[key]
            what = f"{n} turn{'s' * (n > 1)} being answered (the limit per {self.per} is {limits.running})"
            why = (
                f"You already have {what}; wait for it to finish, or press Stop in your other tab."
                if self.per == "user"
                else f"Your network address already has {what}, all its users together; retry when one ends."
            )
            raise Refused(why, f"{self.per}_running")
        if limits.per_minute and len(started) >= limits.per_minute:
            wait = math.ceil(WINDOW - (now - started[0]))
            who = "You" if self.per == "user" else "Your network address"
            n = len(started)
            raise Refused(
                f"{who} sent {n} turn{'s' * (n > 1)} in the last minute (the limit per {self.per} is "
                f"{limits.per_minute}); please retry in {wait} s.",
                f"{self.per}_per_minute",
            )
        started.append(now)
        self._running[key] += 1
        try:
            yield
        finally:
            self._running[key] -= 1
            if not self._running[key]:
                del self._running[key]
            if not started:
                self._started.pop(key, None)

    @classmethod
    def flood(cls, per_minute: int, clock: Callable[[], float] = time.monotonic, *, running: int = 0) -> Admission:
        """Turns per network address, a minute and at once, whoever sends them (0: no limit)."""
        return cls(UserLimits(running=running, per_minute=per_minute), clock, per="address")

    def forget_idle(self) -> None:
        """Drop users with nothing running and no turn in the window (keeps the tables small)."""
        now = self._clock()
        for key in [k for k, s in self._started.items() if not s or now - s[-1] >= WINDOW]:
            if not self._running.get(key):
                del self._started[key]
