"""Forget the Gradio sessions whose tab has gone, so that the server's memory stays flat however
many visitors come and go.

Contract: Gradio keeps every session it has seen (a copy of the page's configuration with the
values last sent to it, and its ``gr.State``: the conversation) in ``app.state_holder``: when a
tab closes it only marks the session closed and drops the ``gr.State`` values an hour later,
and the session itself goes only when ``state_session_capacity`` newer ones exist (10,000 by
default: gigabytes; ``docs/performance.md``, soak). ``forget_closed(holder, grace)`` drops every
session whose tab closed (its heartbeat ended) and that was not used for ``grace`` seconds,
running its states' delete callbacks as Gradio would (what of Gradio's state this touches is in
``ui.gradio_adapter``); ``sweep(holder, grace)`` does so every
``grace / 4`` seconds (at most every minute) until cancelled. Open sessions are kept; their
number is bounded by the launch's ``state_session_capacity`` (``app.py --max-sessions``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from ui.gradio_adapter import closed_sessions, forget_session

log = logging.getLogger(__name__)


def forget_closed(holder: Any, grace: float, now: datetime.datetime | None = None) -> int:
    """Drop the closed sessions unused for ``grace`` seconds from a Gradio ``StateHolder``; how many."""
    gone = closed_sessions(holder, datetime.timedelta(seconds=grace), now or datetime.datetime.now())
    for key in gone:
        forget_session(holder, key)
    return len(gone)


async def sweep(holder: Any, grace: float) -> None:
    """``forget_closed`` every ``grace / 4`` seconds (0.1 to 60), until cancelled."""
    every = min(60.0, max(0.1, grace / 4))
    while True:
        await asyncio.sleep(every)
        try:
            if gone := forget_closed(holder, grace):
                log.debug("forgot %d closed sessions", gone)
        except Exception:  # never let the sweep die: the next round tries again
            log.exception("forgetting closed sessions failed")
