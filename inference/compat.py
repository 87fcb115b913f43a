"""The one Python 3.11 feature the app needs, for Python 3.10 (ZeroGPU Spaces run 3.10.13).

Contract: ``timeout(delay)`` is ``asyncio.timeout`` on Python 3.11 and later. On 3.10 it is
``Timeout``, an async context manager with the same contract for the app's uses: after ``delay``
seconds (``None``: never) it cancels the current task's pending await, which therefore sees
``CancelledError`` (so a vLLM request is aborted as on any cancellation), and the block raises the
built-in ``TimeoutError`` (3.10's ``asyncio.wait_for`` raises ``asyncio.TimeoutError``, a
different class there). A cancellation from elsewhere passes through as ``CancelledError``;
only one that lands in the same loop iteration as the deadline is taken for the timeout
(3.10 has no ``Task.uncancel`` to tell the two apart).
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType


class Timeout:
    """``asyncio.timeout`` for Python 3.10, as the module docstring says."""

    def __init__(self, delay: float | None):
        self._delay = delay
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> Timeout:
        if self._delay is not None:
            task = asyncio.current_task()
            assert task is not None, "Timeout is entered inside a task"
            self._handle = asyncio.get_running_loop().call_later(self._delay, self._expire, task)
        return self

    def _expire(self, task: asyncio.Task[object]) -> None:
        self._expired = True
        task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._expired and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def expired(self) -> bool:
        """Whether the deadline passed (as ``asyncio.Timeout.expired``)."""
        return self._expired


if sys.version_info >= (3, 11):
    timeout = asyncio.timeout
else:
    timeout = Timeout
