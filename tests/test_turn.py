"""Narrow unit tests of a turn's render order and of the event plumbing, with fake engines (no vLLM).

``FakeFastEngine`` (``inference.engines.fake``, with a start delay) stands in for the engines;
``Comparison.respond`` is driven directly, as Gradio would call it. The real engines and the served
page are tested in test_app.py, test_browser.py and the others.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
import typing
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from inference.compare.merge import stream_sides
from inference.compare.metrics import Chunk, SideMetrics
from inference.compare.transcript import Answer, Exchange
from inference.engines.fake import FakeFastEngine
from inference.engines.pool import EnginePool
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.spec import cpu_pair
from ui.gradio_adapter import bind
from ui.layout import build_demo
from ui.links import by_path, linker
from ui.pacing import MAX_RENDER_INTERVAL, PLACEHOLDER_DELAY, RENDER_CHARS, interval, renders
from ui.session import Comparison
from ui.settings import NAMES, PREVIEWED, defaults, parse
from ui.views import STOPPED


def comparison(delay: float, rate: float = 1000.0) -> Comparison:
    pool = EnginePool(cpu_pair(Path("/nowhere/tiny")), make=partial(FakeFastEngine, rate=rate, delay=delay))
    pool.start()
    return Comparison(pool, GenerationSettings(max_tokens=20))


def settings_values(c: Comparison) -> dict:
    """The settings panel's defaults, by name (what a handler's ``values`` receives)."""
    return defaults(c.settings, c.video, c.budget)


async def turn(c: Comparison) -> list[tuple[float, list]]:
    """Every update of one text turn, with its time since the call."""
    request = SimpleNamespace(session_hash="s1", client=SimpleNamespace(host="127.0.0.1"))
    t = time.monotonic()
    updates = c.respond({"text": "Hi", "files": []}, [], settings_values(c), request)
    return [(time.monotonic() - t, list(u)) async for u in updates]


def last_reply(update: list, side: int) -> str:
    pane = update[1 + side]
    return pane[-1]["content"] if pane and pane[-1]["role"] == "assistant" else ""


async def test_a_fast_start_renders_the_turn_with_its_first_text():
    updates = await turn(comparison(0.0))
    _, first = updates[0]
    assert any(last_reply(first, side) not in ("", "…") for side in (0, 1))  # no "…" render before it
    boxes = [u[0] for _, u in updates]
    assert boxes[0] is None  # emptied (a value: cheap for Gradio)
    assert boxes[1] == gr.update(interactive=False)  # then locked
    assert boxes[-1] == gr.update(interactive=True)  # and unlocked at the end


async def test_a_slow_start_shows_placeholders_after_the_delay():
    updates = await turn(comparison(4 * PLACEHOLDER_DELAY))
    t, first = updates[0]
    assert PLACEHOLDER_DELAY * 0.8 <= t < 4 * PLACEHOLDER_DELAY
    assert first[0] == gr.update(value=None, interactive=False)  # emptied and locked at once
    assert [last_reply(first, side) for side in (0, 1)] == ["…", "…"]
    assert all(u[0] is None for _, u in updates[1:-2])  # left so
    assert updates[-2][1][0] == gr.update(value=None, interactive=True)  # unlocked when the answers end...
    assert updates[-1][1][0] == gr.update(interactive=True)  # ...and still, with the scores (the draft kept)
    assert all(last_reply(updates[-1][1], side).startswith("w") for side in (0, 1))


async def test_arrives_within_waits_for_an_event_and_loses_none():
    async def fake_side(delay: float, n: int):
        await asyncio.sleep(delay)
        for i in range(n):
            yield Chunk(text=f"t{i}", tokens=1)

    merged = stream_sides([fake_side(0.3, 2), fake_side(0.3, 1)])
    t = time.monotonic()
    assert not await merged.arrives_within(0.05)
    assert await merged.arrives_within(5.0)
    assert 0.25 <= time.monotonic() - t < 5.0
    assert await merged.arrives_within(0.0)  # still there: nothing was taken
    events = [e async for e in merged]
    assert sorted(e.text for e in events if e.chunk) == ["t0", "t0", "t1"]
    assert sum(e.done for e in events) == 2


@pytest.mark.parametrize("earlier", [0, RENDER_CHARS])
async def test_the_pace_slows_as_the_panes_fill(earlier):
    """The browser re-renders the whole conversation each time: a render waits ``interval`` of the
    characters in the panes (this turn's and ``earlier`` turns'), so a long answer renders less often."""

    async def side(n: int):  # 100 characters every 10 ms: 40k a side in 4 s or more
        for _ in range(n):
            await asyncio.sleep(0.01)
            yield Chunk(text="x" * 99 + " ", tokens=1)

    ex = Exchange.start(UserTurn("Hi"), GenerationSettings(), 2, time.monotonic())
    seen = []  # at each render: its time, each side's characters, whether a side has ended
    merged = stream_sides([side(400), side(400)])
    async for _ in renders(merged, ex, time.monotonic(), lambda: [ex], replace=False, earlier=earlier):
        seen.append((time.monotonic(), [len(a.text) for a in ex.answers], any(a.done for a in ex.answers)))
    paced = [  # (the gap, the least it may be) where neither a side's first text nor its end rendered
        (t1 - t0, interval(earlier + sum(n0), 1))
        for (t0, n0, _), (t1, _, ended) in itertools.pairwise(seen)
        if all(n0) and not ended
    ]
    assert len(paced) >= 3
    assert all(gap >= least - 1e-3 for gap, least in paced), paced
    assert paced[-1][1] == MAX_RENDER_INTERVAL  # the panes reached the slowest pace
    # fewer renders than one every 100 ms over however long the stream took (a loaded machine's too),
    # besides each side's first text and end
    assert len(seen) - 4 < (seen[-1][0] - seen[0][0]) / 0.1


def test_inline_processing_is_the_components_own_and_keeps_the_signature():
    with gr.Blocks():
        box, chat, notes, state = gr.MultimodalTextbox(), gr.Chatbot(), gr.Markdown(), gr.State()
        slider = gr.Slider(1, 10, step=1)

    async def handler(message, conversation, values, request: gr.Request):
        yield (
            gr.update(value={"text": message["text"] + "!", "files": message["files"]}, interactive=True),
            [{"role": "user", "content": {"path": message["files"][0]}}, {"role": "assistant", "content": "ok"}],
            gr.skip(),
            [*conversation, values["count"], request],
        )

    bound = bind(
        handler, {"message": box, "values": {"count": slider}, "conversation": state}, [box, chat, notes, state]
    )
    run = bound.fn
    assert bound.inputs == [box, slider, state]
    # one parameter per component, named for the API; Gradio finds gr.Request through the annotation
    assert list(inspect.signature(run).parameters) == ["message", "count", "conversation", "request"]
    assert typing.get_type_hints(run)["request"] is gr.Request
    wire = {"text": "hi", "files": [{"path": "/tmp/a.png", "meta": {"_type": "gradio.FileData"}}]}

    async def first():
        return await anext(run(wire, 3.0, ["past"], "REQUEST"))

    out_box, out_chat, out_notes, out_state = asyncio.run(first())
    assert out_box["value"]["text"] == "hi!" and out_box["value"]["files"][0]["path"] == "/tmp/a.png"
    assert out_box["interactive"] is True
    assert (
        out_chat
        == chat.postprocess(
            [{"role": "user", "content": {"path": "/tmp/a.png"}}, {"role": "assistant", "content": "ok"}]
        ).model_dump()
    )
    assert out_chat[0]["content"][0]["type"] == "file"
    assert out_notes == gr.skip() and out_state == ["past", 3, "REQUEST"]
    with pytest.raises(gr.Error):  # the slider's own bounds check, as Gradio's preprocessing does
        asyncio.run(anext(run(wire, 99.0, [], None)))


def test_links_give_this_pages_url_or_leave_the_path_to_gradio():
    assert linker(SimpleNamespace(session_hash="s")) is by_path  # called directly: no HTTP request
    assert by_path("/tmp/a.png") == {"path": "/tmp/a.png"}


def test_the_api_takes_one_named_parameter_per_setting_and_the_handlers_one_dict():
    c = comparison(0.0)
    assert list(inspect.signature(c.respond).parameters) == ["message", "conversation", "values", "request"]
    assert list(inspect.signature(c.preview).parameters) == ["message", "conversation", "values", "warned"]
    api = build_demo(c).get_api_info()["named_endpoints"]
    names = {name: [p["parameter_name"] for p in api[name]["parameters"]] for name in ("/respond", "/preview")}
    assert names == {"/respond": ["message", *NAMES], "/preview": ["message", *PREVIEWED]}


def test_the_panel_defaults_parse_back_to_the_apps_settings_and_a_cleared_field_is_refused():
    c = comparison(0.0)
    values = defaults(c.settings, c.video, c.budget)
    assert parse(values, c.settings, c.video, c.budget) == (c.settings, c.video, c.budget)
    _, video, budget = parse({"video_max_frames": 7, "image_max_tokens": 64}, c.settings, c.video, c.budget)
    assert video.max_frames == 6 and budget.image_min_tokens == budget.image_max_tokens == 64
    with pytest.raises(DemoError, match="Every setting needs a value"):
        parse({**values, "seed": None}, c.settings, c.video, c.budget)


async def test_halt_ends_the_merged_stream_at_once_and_cancels_every_side():
    """Stop and Clear end a turn from inside its handler: a reader waiting on sides that send
    nothing (stuck engines, named so) wakes up, and every side's request is cancelled."""
    cancelled: list[int] = []

    async def stuck(side: int):
        try:
            await asyncio.Event().wait()  # never set: the side never sends anything
            yield Chunk("", 0)
        except asyncio.CancelledError:
            cancelled.append(side)
            raise

    merged = stream_sides([stuck(0), stuck(1)])
    reader = asyncio.create_task(anext(merged, None))
    await asyncio.sleep(0)  # the reader is waiting
    assert not reader.done()
    merged.halt()
    assert await asyncio.wait_for(reader, 10) is None  # the stream ended, with no event
    assert sorted(cancelled) == [0, 1]


async def test_nothing_queued_before_a_halt_is_read_after_it():
    """A Stop while a side's chunk is already queued: the reader gets no more events (the page
    ends the turn with what the Stop showed), and an answer marked done takes no further chunk."""

    go = asyncio.Event()

    async def side(k: int):
        await go.wait()
        yield Chunk(f"side {k}", 1)
        await asyncio.Event().wait()  # then nothing more

    merged = stream_sides([side(0), side(1)])
    reader = asyncio.create_task(anext(merged, None))
    await asyncio.sleep(0)  # the reader waits on the empty stream
    go.set()
    await asyncio.sleep(0)  # the sides' chunks are queued and the reader woken, not yet run
    merged.halt()  # the Stop lands here
    assert await asyncio.wait_for(reader, 10) is None

    answer = Answer(SideMetrics(started=0.0))
    answer.add(Chunk("shown ", 1), 0.1)
    answer.finish(0.2, STOPPED)
    answer.add(Chunk("late", 1), 0.3)
    assert answer.text == "shown " and answer.note == STOPPED and answer.metrics.tokens == 1


@pytest.mark.parametrize("action", ["stop", "clear", "leave"])
async def test_stop_clear_and_leaving_end_a_streaming_turn_through_its_one_cancel(action):
    """Each ends the turn from inside its handler: the requests end (the fake engines count them),
    the slot is given back, the unfinished answers are marked stopped at once, and the turn's own
    last render is the stopped turn (Clear: the emptied conversation)."""
    c = comparison(0.0, rate=10.0)  # 20 tokens: 2 s a side
    request = SimpleNamespace(session_hash="s1", client=SimpleNamespace(host="127.0.0.1"))
    conversation: list = []
    renders = []
    async for update in c.respond({"text": "Hi", "files": []}, conversation, settings_values(c), request):
        renders.append(update)
        if len(renders) == 2:  # streaming: the turn's first text has rendered
            assert any(e.num_unfinished_requests() for e in c.pool.engines) and c.turns.answering()
            await (c.leave(request) if action == "leave" else getattr(c, action)(conversation, request))
            ex = c.turns.answering() or [None]
            assert ex[0] is None  # every answer is marked at once: none is answering any more
    assert all(e.num_unfinished_requests() == 0 for e in c.pool.engines)
    assert c.queue.running == 0 and c.turns.answering() == []
    box, last = renders[-1][0], renders[-1][-1]
    assert box["interactive"] is True
    if action == "clear":
        assert last == [] and box["value"] is None
    else:
        (ex,) = last
        assert [a.note for a in ex.answers] == [STOPPED, STOPPED] and 0 < ex.answers[0].metrics.tokens < 20
        assert all(last_reply(renders[-1], side).endswith(STOPPED) for side in (0, 1))


async def test_stop_before_a_slot_is_free_sends_nothing_and_gives_the_message_back():
    c = comparison(0.0, rate=10.0)
    c.queue.capacity = 1
    c.queue._slots = asyncio.Semaphore(0)  # every slot taken (by other users' turns)
    request = SimpleNamespace(session_hash="s2", client=SimpleNamespace(host="127.0.0.1"))
    message = {"text": "Hi", "files": []}
    renders = []
    async for update in c.respond(message, [], settings_values(c), request):
        renders.append(update)
        if len(renders) == 1:
            assert update[-2].startswith("⏳ The demo is busy")
            await c.stop([], request)
    assert renders[-1][0] == gr.update(value=message, interactive=True) and renders[-1][-1] == []
    assert c.queue.waiting == 0 and c.queue.running == 0
    assert all(e.num_unfinished_requests() == 0 for e in c.pool.engines)
