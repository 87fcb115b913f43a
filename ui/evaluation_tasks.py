"""Evaluations as background tasks the server owns, one per user, with their progress and result.

Contract: ``Tasks(keep_seconds, keep_finished)`` holds at most one evaluation per user key
(``ui.queue.user``: a signed-in name, a browser's signed cookie, or an address). ``start(user,
work)`` runs ``work(task)`` (a coroutine function: it appends progress lines with ``task.say`` and
returns the ``Outcome``) as an asyncio task in the running event loop, not inside any page's
event, so closing the tab neither stops it nor loses its result; it raises ``AlreadyRunning`` (a
``DemoError``) while that user's last evaluation still runs. ``get(user)`` is that user's latest
evaluation, running or finished, until they start another or it is evicted: a finished one is kept
``keep_seconds`` (6 hours by default) after it ended, and at most ``keep_finished`` finished ones
(16 by default, the report folders ``ui.evaluation`` keeps on disk) are kept in all, the oldest
dropped first; a running one is never dropped (the turn queue's per-user limits bound how many
run). ``follow(task, since)`` yields the task's progress lines from index ``since`` on, in order,
then its ``Outcome`` when it ends (the state is polled every ``POLL`` seconds). A ``work`` that
raises ends as a ``❌`` outcome (logged); a task cancelled at shutdown ends as a ``⏹`` one.
No Gradio here: ``ui.evaluation`` turns lines and outcomes into the page's updates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from inference.errors import DemoError

log = logging.getLogger(__name__)

KEEP_SECONDS = 6 * 3600  # a finished evaluation's result stays reachable this long after it ended
KEEP_FINISHED = 16  # finished results kept at most, all users together (oldest dropped first)
POLL = 0.25  # seconds between looks at a task's state while following it


class AlreadyRunning(DemoError):
    """The user's previous evaluation is still running."""


@dataclass(frozen=True)
class Outcome:
    """What a finished evaluation shows: its status line, the tables (Markdown), the plots
    (path, caption) and the report files' paths (empty when it failed)."""

    status: str
    tables: str = ""
    plots: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()


@dataclass
class Task:
    user: str
    began: float  # the clock's reading at the start (monotonic seconds)
    lines: list[str] = field(default_factory=list)  # progress lines, in order
    outcome: Outcome | None = None  # set when it ends
    ended: float | None = None
    job: asyncio.Task[None] | None = field(default=None, repr=False)
    chosen: dict[str, float] = field(default_factory=dict)  # what its page had set, for a reopened page

    @property
    def running(self) -> bool:
        return self.outcome is None

    def say(self, line: str) -> None:
        """A new progress line (the page shows the latest)."""
        self.lines.append(line)


Work = Callable[[Task], Awaitable[Outcome]]


class Tasks:
    def __init__(
        self,
        keep_seconds: float = KEEP_SECONDS,
        keep_finished: int = KEEP_FINISHED,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.keep_seconds, self.keep_finished, self.clock = keep_seconds, keep_finished, clock
        self._tasks: dict[str, Task] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, user: str) -> Task | None:
        """The user's latest evaluation (running, or finished and not yet evicted)."""
        self.evict()
        return self._tasks.get(user)

    def check(self, user: str) -> None:
        """Raise ``AlreadyRunning`` (its one sentence) while ``user``'s last evaluation still runs."""
        previous = self._tasks.get(user)
        if previous is not None and previous.running:
            minutes = (self.clock() - previous.began) / 60
            raise AlreadyRunning(
                f"Your evaluation started {minutes:.0f} min ago is still running (one at a time per user): "
                "this page now shows its progress, and its result when it ends."
            )

    def start(self, user: str, work: Work) -> Task:
        """Run ``work`` for ``user`` in the background (see the module's contract)."""
        self.check(user)
        task = Task(user, self.clock())
        self._tasks[user] = task  # a finished one of this user's is replaced
        task.job = asyncio.get_running_loop().create_task(self._run(task, work), name=f"evaluation {user}")
        self.evict()
        return task

    async def _run(self, task: Task, work: Work) -> None:
        outcome = Outcome("⏹ The evaluation was stopped: the app is shutting down.")
        try:
            outcome = await work(task)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the UI's edge: say it, log the cause
            log.exception("evaluation failed")
            outcome = Outcome(f"❌ The evaluation stopped: unexpected error ({err!r}); see the log")
        finally:
            task.outcome, task.ended = outcome, self.clock()
            self.evict()

    def evict(self) -> None:
        """Drop finished evaluations past ``keep_seconds``, then the oldest past ``keep_finished``."""
        now = self.clock()
        finished = sorted((t for t in self._tasks.values() if t.ended is not None), key=lambda t: t.ended or 0.0)
        stale = [t for t in finished if now - (t.ended or now) > self.keep_seconds]
        kept = finished[len(stale) :]
        for t in stale + kept[: max(0, len(kept) - self.keep_finished)]:
            del self._tasks[t.user]

    async def follow(self, task: Task, since: int = 0) -> AsyncIterator[str | Outcome]:
        """The task's progress lines from ``since`` on, then its outcome (see the module's contract)."""
        seen = max(0, since)
        while True:
            outcome = task.outcome  # read before the lines: a line said just before the end is not missed
            while seen < len(task.lines):
                seen += 1
                yield task.lines[seen - 1]
            if outcome is not None:
                yield outcome
                return
            await asyncio.sleep(POLL)
