"""``inference.compat.timeout`` keeps ``asyncio.timeout``'s contract on every Python the app runs on.

Both the name the app uses (``asyncio.timeout`` itself on 3.11+) and the 3.10 stand-in (``Timeout``)
are checked, on whichever Python runs the tests: 3.12 in ``make test``, 3.10 in ``make test-py310``.
No engine: the streams are plain async generators.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from inference import compat
from inference.compare.merge import stream_sides
from inference.compare.metrics import Chunk

pytestmark = pytest.mark.cpu_set  # checks the Python it runs on: 3.12 here, 3.10 in test-py310

TIMEOUTS = [pytest.param(compat.timeout, id="compat.timeout"), pytest.param(compat.Timeout, id="Timeout")]


def test_python_3_11_and_later_use_asyncio_timeout_itself():
    expected = asyncio.timeout if sys.version_info >= (3, 11) else compat.Timeout
    assert compat.timeout is expected


@pytest.mark.parametrize("timeout", TIMEOUTS)
async def test_a_block_past_its_delay_cancels_the_pending_await_and_raises_timeout_error(timeout):
    seen = []

    async def request():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:  # where vLLM aborts the request
            seen.append("cancelled")
            raise

    with pytest.raises(TimeoutError):  # the built-in one, as `except TimeoutError` in the app expects
        async with timeout(0.05):
            await request()
    assert seen == ["cancelled"]
    await asyncio.sleep(0.01)  # the task itself is not left cancelled


@pytest.mark.parametrize("timeout", TIMEOUTS)
async def test_a_block_within_its_delay_ends_normally_and_nothing_fires_later(timeout):
    async with timeout(0.2):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # past the deadline: no stray cancellation arrives


@pytest.mark.parametrize("timeout", TIMEOUTS)
async def test_no_delay_never_times_out(timeout):
    async with timeout(None):
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("timeout", TIMEOUTS)
async def test_a_cancellation_from_outside_stays_a_cancellation(timeout):
    async def turn():
        async with timeout(5):
            await asyncio.sleep(10)

    task = asyncio.create_task(turn())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stalled_side_ends_with_its_message_while_the_other_finishes():
    async def stalls():
        yield Chunk("a", 1)
        await asyncio.sleep(10)
        yield Chunk("never", 1)

    async def answers():
        for word in ("b", "c"):
            await asyncio.sleep(0.01)
            yield Chunk(word, 1)

    events = [e async for e in stream_sides([stalls(), answers()], stall_seconds=0.2)]
    texts = {side: "".join(e.text for e in events if e.side == side) for side in (0, 1)}
    assert texts == {0: "a", 1: "bc"}
    (error,) = [e.error for e in events if e.error]
    assert "No output for" in str(error) and [e.done for e in events].count(True) == 2
