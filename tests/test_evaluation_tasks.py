"""Evaluations as per-user background tasks (``ui.evaluation_tasks``, ``ui.evaluation.Evaluation``)
with FAKE work and a FAKE comparison (no engine, no browser): a user's second Run while theirs runs
gets one sentence and follows the running one; a task outlives whoever follows it; finished results
are evicted after ``keep_seconds`` and past ``keep_finished``, oldest first. The real evaluation,
closed tab and reopened page included, is ``tests/test_evaluation_resume.py``."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ui.evaluation import Evaluation
from ui.evaluation_tasks import AlreadyRunning, Outcome, Task, Tasks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fake_work(gate: asyncio.Event, lines: int = 2):
    """Fake work: says ``lines`` progress lines, then waits for ``gate``, then ends with a result."""

    async def work(task: Task) -> Outcome:
        for i in range(lines):
            task.say(f"⏳ {i + 1}/{lines} prompts")
        await gate.wait()
        return Outcome(f"✅ done for {task.user}", "| table |", (("/x/a.png", "A"),), ("/x/report.json",))

    return work


async def test_a_second_start_while_one_runs_is_refused_in_one_sentence_and_the_task_outlives_its_follower():
    tasks, gate = Tasks(), asyncio.Event()
    task = tasks.start("browser:a", fake_work(gate))
    with pytest.raises(AlreadyRunning) as refused:
        tasks.start("browser:a", fake_work(gate))
    said = str(refused.value)
    assert said.count(". ") == 0 and said.endswith(".") and "still running" in said and "one at a time" in said
    other = tasks.start("browser:b", fake_work(gate))  # another user is not refused
    follower = tasks.follow(task)
    assert await anext(follower) == "⏳ 1/2 prompts"
    await follower.aclose()  # the page went away
    gate.set()
    await asyncio.wait_for(asyncio.gather(task.job, other.job), 5)
    assert task.outcome is not None and task.outcome.status == "✅ done for browser:a"
    seen = [x async for x in tasks.follow(task)]  # a page opened afterwards: every line, then the result
    assert seen == ["⏳ 1/2 prompts", "⏳ 2/2 prompts", task.outcome]
    assert tasks.start("browser:a", fake_work(gate)) is not task  # finished: a new one may start


async def test_finished_results_are_evicted_after_the_bound_and_past_the_count_oldest_first():
    clock, gate = Clock(), asyncio.Event()
    gate.set()
    tasks = Tasks(keep_seconds=3600, keep_finished=2, clock=clock)
    for user in ("u1", "u2", "u3"):
        clock.now += 10
        await asyncio.wait_for(tasks.start(user, fake_work(gate)).job, 5)
    assert tasks.get("u1") is None and tasks.get("u2") is not None and tasks.get("u3") is not None
    held = asyncio.Event()
    running = tasks.start("u4", fake_work(held))
    await asyncio.sleep(0)
    clock.now += 3601  # past the bound: both finished ones go, the running one stays
    assert tasks.get("u2") is None and tasks.get("u3") is None and tasks.get("u4") is running
    assert len(tasks) == 1
    held.set()
    await asyncio.wait_for(running.job, 5)


async def test_work_that_raises_ends_as_a_logged_sentence_not_a_lost_task():
    async def broken(task: Task) -> Outcome:
        raise RuntimeError("boom")

    tasks = Tasks()
    task = tasks.start("u", broken)
    await asyncio.wait_for(task.job, 5)
    assert task.outcome is not None and task.outcome.status.startswith("❌ The evaluation stopped")


def fake_comparison() -> SimpleNamespace:
    """A FAKE comparison: what ``Evaluation.run`` reads before it starts anything."""
    return SimpleNamespace(pool=SimpleNamespace(status=SimpleNamespace(ready=True)))


async def test_the_tab_tells_a_second_run_in_one_sentence_and_follows_the_running_one():
    evaluation, gate = Evaluation(fake_comparison()), asyncio.Event()  # type: ignore[arg-type]
    alice = SimpleNamespace(username="alice")  # ``ui.queue.user``: "hf:alice"
    running = evaluation.tasks.start("hf:alice", fake_work(gate))
    await asyncio.sleep(0)
    page = evaluation.run(16, request=alice)  # type: ignore[arg-type]
    status, button, *_ = await anext(page)
    first, latest = status.split("  \n")
    assert first.startswith("⚠️ Your evaluation started") and "still running" in first
    assert latest == "⏳ 2/2 prompts" and button["interactive"] is False
    gate.set()
    *_, last = [u async for u in page]
    assert last[0].endswith("✅ done for hf:alice") and last[2] == "| table |" and last[1]["interactive"] is True
    assert evaluation.tasks.get("hf:alice") is running
    # another user's page, loaded meanwhile, shows nothing of alice's
    bob = SimpleNamespace(username="bob")
    (shown,) = [u async for u in evaluation.resume(bob)]  # type: ignore[arg-type]
    assert all(isinstance(x, dict) and x.get("__type__") == "update" and len(x) == 1 for x in shown)
    # alice's page reopened: her result again
    *_, again = [u async for u in evaluation.resume(alice)]  # type: ignore[arg-type]
    assert again[0] == "✅ done for hf:alice" and again[4]["value"] == ["/x/report.json"]
