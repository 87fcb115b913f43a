"""When a streaming turn is rendered: every token is counted at once, the page only at a pace.

Contract: ``renders(merged, ex, start, answering, replace=..., earlier=...)`` drives one turn's
merged stream (``stream_sides``): each chunk is added to ``ex``'s answers as it comes and each
side's answer finished when its stream ends (its error shown in its pane). It yields, per render,
the input box's value and whether the divergence views and plot are refreshed too. The turn
appears with its first text, or with "…" after ``PLACEHOLDER_DELAY``; then a side's first text and
each side's end render at once, the rest at the pace of ``interval``: every ``RENDER_INTERVAL`` at
least, slower as the panes hold more text (``RENDER_CHARS``, up to ``MAX_RENDER_INTERVAL``) and as
more turns are ``answering()`` (``RENDER_BUDGET``); the details at most every ``PLOT_INTERVAL``. A
stop ends it through ``merged`` (``ui.cancel``); closing ``merged`` is the caller's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sized
from typing import Any

import gradio as gr

from inference.compare.merge import stream_sides
from inference.compare.transcript import Exchange

RENDER_INTERVAL = 0.1  # seconds between renders: at most 10 a second
PLOT_INTERVAL = 0.5  # the plot re-draws less often
# A turn first appears with its first text, or with "…" placeholders after this long: a render at
# once would take the server loop (~10-20 ms) just while it processes the requests' inputs.
PLACEHOLDER_DELAY = 0.15
# Renders per second of all running turns together. When each render cost the server loop ~5-20 ms
# (Gradio's postprocessing in a thread per component), 8 turns at 20 a second each made the loop,
# not the engines, set the pace (bench/load.py: 2.1x one user's throughput at 4 users, 1.1x at 8).
# Renders now cost under 1 ms (``ui.gradio_adapter.bind``, ``ui.links``, and since 2026-12-07
# ``cheap_skips``: each ``gr.skip()`` had cost a rebuild, ~10 ms a render); the cap stays, not re-tuned since.
RENDER_BUDGET = 40
# Characters in the panes re-rendered per second, at most (up to ``MAX_RENDER_INTERVAL``). The browser
# re-renders the whole conversation on every render (Gradio snapshots each output's value, the
# Chatbot re-lays out its pane to scroll): with the Chromium of the browser tests on the engines'
# two cores, 20 renders a second took ~1 core once the panes held a few thousand characters, and
# each engine's decode half its pace (docs/testing.md). At 20k characters a render a second.
RENDER_CHARS = 20_000
MAX_RENDER_INTERVAL = 1.0  # a long answer still moves every second


def interval(shown: int, turns: int) -> float:
    """Seconds between two renders of a turn while ``shown`` characters are in the panes and
    ``turns`` turns are being answered."""
    return max(RENDER_INTERVAL, turns / RENDER_BUDGET, min(MAX_RENDER_INTERVAL, shown / RENDER_CHARS))


async def renders(
    merged: stream_sides,
    ex: Exchange,
    start: float,
    answering: Callable[[], Sized],
    *,
    replace: bool,
    earlier: int = 0,
) -> AsyncGenerator[tuple[Any, bool], None]:
    """``(input box, details)`` for each render of this turn; ``replace``: a Regenerate turn;
    ``earlier``: the characters of the conversation's earlier answers (in the panes too)."""
    box = gr.update(interactive=False) if replace else gr.update(value=None, interactive=False)
    # The box: when the first text comes first, a new turn's first render empties it (a
    # value, cheap) and the next locks it (an update makes Gradio rebuild the component,
    # ~5 ms: not on the way to the first token; Gradio takes no second submit while a turn
    # runs anyway). The "…" render of a slow start does both at once, as does Regenerate,
    # which keeps the user's draft in the box. Afterwards a new turn's box is sent empty
    # again and Regenerate's left as it is (``gr.update()``, a bare skip: no rebuild, ``cheap_skips``).
    lock = gr.update(interactive=False)
    boxes = [lock] if replace else [None, lock]
    keep = gr.update() if replace else None
    if not await merged.arrives_within(PLACEHOLDER_DELAY):  # slow to start: show the turn now
        yield box, False
        boxes.clear()
    last, last_plot = 0.0, start  # the plot and marks wait for their interval
    async for event in merged:
        every = interval(earlier + sum(len(a.text) for a in ex.answers), len(answering()))
        now = time.monotonic()
        answer = ex.answers[event.side]
        if event.started is not None:  # each alone: this side's request went out just now
            answer.metrics.started = event.started
        first_text = not answer.text and event.chunk is not None and bool(event.chunk.text)
        if event.chunk is not None:
            answer.add(event.chunk, now)
        if event.done:
            answer.finish(now, f"⚠️ {event.error}" if event.error is not None else "")
        if event.done or first_text or now - last >= every:  # a side's first text: at once
            details = event.done or now - last_plot >= max(PLOT_INTERVAL, 4 * every)
            last, last_plot = now, now if details else last_plot
            yield boxes.pop(0) if boxes else keep, details
