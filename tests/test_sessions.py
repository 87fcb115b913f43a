"""Gradio sessions do not pile up: a closed tab's session is forgotten after its grace, open ones
are kept (at most ``max_sessions``), so the server's memory plateaus (the soak, bench/soak.py).

The first test drives ``ui.sessions.forget_closed`` on Gradio's own ``StateHolder``; the others serve
the page (``app.build`` + ``app.launch``) with ``FakeFastEngine``s (named so: no vLLM, the sessions
are the page's business) and real ``gradio_client`` users whose sessions end as a tab's does (the
client's heartbeat connection closes).
"""

from __future__ import annotations

import contextlib
import datetime
import time
from pathlib import Path

import gradio as gr
from gradio.state_holder import StateHolder

from tests.helpers.clients import answers, client, split
from tests.helpers.servers import build, free_port
from ui.sessions import forget_closed

DEADLINE = 60.0  # s: Gradio notices a closed heartbeat connection when it next writes to it


def test_forget_closed_drops_closed_sessions_after_their_grace_only():
    dropped = []
    with gr.Blocks() as demo:
        state = gr.State([], delete_callback=dropped.append)
    holder = StateHolder()
    holder.set_blocks(demo)
    now = datetime.datetime.now()
    for key, closed, idle in [("gone", True, 120), ("recent", True, 10), ("open", False, 3600)]:
        holder[key][state._id] = [key]
        holder.session_data[key].is_closed = closed
        holder.time_last_used[key] = now - datetime.timedelta(seconds=idle)
    assert forget_closed(holder, grace=60, now=now) == 1
    assert set(holder.session_data) == set(holder.time_last_used) == {"recent", "open"}
    assert dropped == [["gone"]]  # the state's delete callback ran, as in Gradio's own expiry
    assert forget_closed(holder, grace=5, now=now) == 1  # "recent" now; an open tab is never dropped
    assert set(holder.session_data) == {"open"}


@contextlib.contextmanager
def fake_app(**options):
    """The page with fake engines, served: yields ``(url, demo)``."""
    import app
    from inference.engines.fake import FakeFastEngine
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    page = build(
        cpu_pair(Path("/nowhere/tiny")), GenerationSettings(max_tokens=8), make_engine=FakeFastEngine, **options
    )
    demo, pool = page.demo, page.comparison.pool
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True)
    try:
        pool.start()
        yield url, demo
    finally:
        demo.close()
        pool.shutdown()


def turn(user) -> list[str]:
    """One text turn; the FP8 pane's answers after it."""
    update = user.predict({"text": "Hi", "files": []}, api_name="/respond")
    return answers(split(update)[1][0])


def wait_until(condition, deadline: float = DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_closed_tabs_session_is_forgotten_and_an_open_one_kept(monkeypatch):
    # Gradio notices a closed tab when its next heartbeat fails to write: every 15 s unless
    # GRADIO_HEARTBEAT_INTERVAL says otherwise (read as each queue stream opens); 0.5 s here, so the
    # test waits on the grace, not on Gradio's clock (21 s → ~3 s, issue 28).
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    with fake_app(closed_session_minutes=0.5 / 60) as (url, demo):
        stays = client(url)
        assert len(turn(stays)) == 1
        closed = []
        for _ in range(3):
            user = client(url)
            turn(user)
            closed.append(user.session_hash)
            user.close()  # the tab closes: its heartbeat connection ends
        sessions = demo.state_holder.session_data
        assert wait_until(lambda: not set(closed) & set(sessions)), f"still kept: {set(closed) & set(sessions)}"
        time.sleep(1.0)  # the open tab idles longer than the grace of closed ones, and keeps its history
        assert stays.session_hash in sessions
        assert len(turn(stays)) == 2
        stays.close()


def test_at_most_max_sessions_are_kept():
    with fake_app(max_sessions=3, closed_session_minutes=None) as (url, demo):
        users = [client(url) for _ in range(5)]
        try:
            for user in users:
                turn(user)
            kept = set(demo.state_holder.session_data)
            assert len(kept) <= 3
            assert {u.session_hash for u in users[-2:]} <= kept  # the most recently used stay
        finally:
            for user in users:
                user.close()
