"""What ``ui.gradio_adapter`` relies on in Gradio still holds: one probe per internal its docstring
lists, each failing with a sentence that names the internal a Gradio upgrade changed.

Engine-free: each probe drives Gradio's own code (no page served); ``test_sessions.py`` and
``test_turn.py`` drive the adapter's functions themselves.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import inspect
import re
import typing
from collections.abc import Callable
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio import helpers, queueing, route_utils, routes
from gradio import utils as gr_utils
from gradio.blocks import postprocess_update_dict
from gradio.data_classes import GradioModel, GradioRootModel
from gradio.state_holder import SessionState, StateHolder
from gradio_client import utils as client_utils

import ui.gradio_adapter as adapter


def _three_outputs(postprocess: bool = True):
    """A page whose one event has a Markdown, an HTML and a State output (HTML: Gradio sends a skip's
    props too)."""
    with gr.Blocks() as demo:
        text, html, kept = gr.Markdown("a"), gr.HTML("h"), gr.State(1)
        gr.Button().click(lambda: None, None, [text, html, kept], postprocess=postprocess)
    return demo, next(iter(demo.fns.values())), (text, html, kept)


def _signature() -> None:
    async def handler(message, values, request: gr.Request):
        yield message, values, request

    with gr.Blocks():
        box, a, b = gr.Textbox(), gr.Slider(), gr.Number()
    bound = adapter.bind(handler, {"message": box, "values": {"a": a, "b": b}})
    names = [p[0] for p in gr_utils.get_function_params(bound.fn)]
    assert names == ["message", "a", "b"], f"get_function_params gives {names}"
    inputs, *_ = helpers.special_args(bound.fn, ["m", 1, 2], request=routes.Request(username="x"))
    assert isinstance(inputs[3], routes.Request), f"special_args gives {inputs}"


def _stateful() -> None:
    assert gr.State().stateful and not gr.Slider().stateful


def _validate_meta() -> None:
    source = inspect.getsource(gr.Blocks.preprocess_data)
    assert re.search(r"model_validate\(\s*\w+,\s*context=\{\"validate_meta\": True\}", source), "no such call"
    model = gr.MultimodalTextbox().data_model
    value = model.model_validate({"text": "hi", "files": []}, context={"validate_meta": True})
    assert gr.MultimodalTextbox().preprocess(value) == {"text": "hi", "files": []}


def _update() -> None:
    assert gr.update(value=1, interactive=True) == {"__type__": "update", "value": 1, "interactive": True}


def _postprocess_data() -> None:
    gradio = getattr(gr.Blocks.postprocess_data, "original", gr.Blocks.postprocess_data)
    assert list(inspect.signature(gradio).parameters) == ["self", "block_fn", "predictions", "state"]
    assert list(inspect.signature(postprocess_update_dict).parameters) == ["block", "update_dict", "postprocess"]
    demo, fn, (text, _, _) = _three_outputs()
    state = SessionState(demo)
    out = asyncio.run(gradio(demo, fn, [gr.skip(), "b", gr.skip()], state))
    assert out[0] == postprocess_update_dict(text, gr.skip(), fn.postprocess) == {"__type__": "update"}, out


def _model_dump() -> None:
    out = gr.Chatbot().postprocess([{"role": "user", "content": "hi"}])
    assert isinstance(out, (GradioModel, GradioRootModel)) and out.model_dump()[0]["content"][0]["text"] == "hi"


def _file_url() -> None:
    assert route_utils.API_PREFIX == "/gradio_api"
    assert list(inspect.signature(route_utils.get_root_url).parameters) == ["request", "route_path", "root_path"]
    assert callable(route_utils.get_api_call_path)
    assert client_utils.encode_file_path("/tmp/a b.png").endswith("a%20b.png")
    assert client_utils.get_mimetype("/tmp/a.png") == "image/png"
    link = adapter.file_link("http://host/app", "/tmp/a.png")
    assert link.url == "http://host/app/gradio_api/file=/tmp/a.png" and link.mime_type == "image/png"


def _upload_folder() -> None:
    assert isinstance(gr_utils.get_upload_folder(), str)


def _state_holder() -> None:
    assert "self.state_holder = StateHolder()" in inspect.getsource(routes.App.__init__)
    holder = StateHolder()
    assert isinstance(holder.session_data, dict) and isinstance(holder.time_last_used, dict)
    assert hasattr(holder.lock, "__enter__") and callable(holder.delete_state)
    with gr.Blocks() as demo:
        gr.State()
    holder.set_blocks(demo)
    assert holder["s"].is_closed is False and isinstance(holder["s"], SessionState)
    now = datetime.datetime.now()
    holder["s"].is_closed = True
    holder.time_last_used["s"] = now - datetime.timedelta(hours=1)
    assert adapter.closed_sessions(holder, datetime.timedelta(minutes=1), now) == ["s"]
    adapter.forget_session(holder, "s")
    assert "s" not in holder.session_data
    assert adapter.state_holder(SimpleNamespace(state_holder=holder)) is holder


def _queue_polls() -> None:
    with gr.Blocks() as demo:
        gr.Textbox()
    demo.queue()
    queue = demo._queue
    assert isinstance(queue, queueing.Queue), f"demo._queue is a {type(queue).__name__}"
    assert isinstance(queue.sleep_when_free, float) and isinstance(queue.progress_update_sleep_when_free, float)
    for loop, name in (
        ("start_processing", "sleep_when_free"),
        ("start_progress_updates", "progress_update_sleep_when_free"),
    ):
        source = inspect.getsource(getattr(queueing.Queue, loop))
        assert f"asyncio.sleep(self.{name})" in source, f"Queue.{loop} no longer sleeps self.{name}"


PROBES: dict[str, Callable[[], None]] = {
    "signature": _signature,
    "stateful": _stateful,
    "validate_meta": _validate_meta,
    "update": _update,
    "postprocess_data": _postprocess_data,
    "model_dump": _model_dump,
    "file_url": _file_url,
    "queue_polls": _queue_polls,
    "upload_folder": _upload_folder,
    "state_holder": _state_holder,
}


def listed() -> list[tuple[str, str]]:
    """The internals the adapter's docstring lists: (name, what is relied on)."""
    doc = adapter.__doc__ or ""
    return re.findall(r"^- (\w+): (.+?)(?=^- |\Z)", doc, flags=re.M | re.S)


def test_every_listed_internal_has_a_probe_and_every_probe_a_listed_internal():
    assert sorted(name for name, _ in listed()) == sorted(PROBES)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_gradio_still_provides_what_the_adapter_relies_on(name: str):
    what = dict(listed())[name]
    try:
        PROBES[name]()
    except Exception as err:  # any failure of a probe is the same sentence, naming the internal
        pytest.fail(
            f"Gradio {gr.__version__} no longer provides what ui/gradio_adapter.py relies on ({name}): "
            f"{' '.join(what.split())} — {type(err).__name__}: {err}",
            pytrace=False,
        )


def test_a_bound_handler_gets_one_dict_of_the_grouped_values_and_gradio_fills_the_request():
    seen = {}

    def handler(message, values, request: gr.Request):
        seen.update(message=message, values=values, request=request)

    with gr.Blocks():
        box, a, b = gr.Textbox(), gr.Slider(), gr.Number()
    bound = adapter.bind(handler, {"message": box, "values": {"a": a, "b": b}})
    assert bound.inputs == [box, a, b]
    assert typing.get_type_hints(bound.fn)["request"] is gr.Request
    request = routes.Request(username="x")
    inputs, *_ = helpers.special_args(bound.fn, ["hi", 1, 2], request=request)
    bound.fn(*inputs)
    assert seen == {"message": "hi", "values": {"a": 1, "b": 2}, "request": request}
    with pytest.raises(TypeError, match="has no parameter"):
        adapter.bind(handler, {"text": box})


@pytest.mark.parametrize("postprocess", [True, False])
@pytest.mark.parametrize(
    "given",
    [
        ["**new**", gr.skip(), 5],  # one output kept with its value, one skipped, a State set
        [gr.skip(), gr.skip(), gr.skip()],  # all skipped (the State's skip leaves it as it was)
        [gr.skip(), gr.update(value="<b>x</b>", visible=False), gr.skip()],  # an update still rebuilds
        [gr.update(), "<i>y</i>", gr.update(value=7)],  # gr.update() is a bare skip too
    ],
)
def test_a_bare_skip_is_sent_as_gradio_sends_it_without_rebuilding_its_component(given, postprocess):
    adapter.cheap_skips()
    adapter.cheap_skips()  # idempotent: the original stays one layer below
    cheap = gr.Blocks.postprocess_data
    gradio = cheap.original
    assert not getattr(gradio, "cheap_skips", False)
    demo, fn, outputs = _three_outputs(postprocess)
    mine, theirs = SessionState(demo), SessionState(demo)
    got = asyncio.run(cheap(demo, fn, copy.deepcopy(given), mine))  # Gradio's own pops an update's value
    assert got == asyncio.run(gradio(demo, fn, copy.deepcopy(given), theirs))
    assert mine.state_data == theirs.state_data  # the State output: set, or left as it was
    for c, value in zip(outputs, given, strict=True):
        if c.stateful:
            continue
        update = isinstance(value, dict) and value.get("__type__") == "update"
        assert (theirs.blocks_config.blocks[c._id] is not c) == update  # Gradio rebuilds for every update
        assert (mine.blocks_config.blocks[c._id] is not c) == (update and value != gr.skip()), (c, value)


@pytest.mark.parametrize("given", [[gr.skip(), gr.update(value="<b>z</b>")], [gr.skip(), "<b>z</b>"], [gr.skip()] * 2])
def test_one_output_left_after_the_skips_is_processed_as_gradio_processes_a_lone_output(given):
    adapter.cheap_skips()
    cheap = gr.Blocks.postprocess_data
    with gr.Blocks() as demo:
        text, html = gr.Markdown("a"), gr.HTML("h")
        gr.Button().click(lambda: None, None, [text, html])
    fn = next(iter(demo.fns.values()))
    mine, theirs = SessionState(demo), SessionState(demo)
    got = asyncio.run(cheap(demo, fn, copy.deepcopy(given), mine))
    assert got == asyncio.run(cheap.original(demo, fn, copy.deepcopy(given), theirs))
    assert mine.blocks_config.blocks[text._id] is text  # the skipped one: not rebuilt


def test_the_page_polls_its_queue_every_10_ms_and_returns_gradios_values_for_the_benchmark():
    from pathlib import Path

    from inference.engines.fake import FakeFastEngine
    from inference.spec import cpu_pair
    from ui.serve import build

    page = build(cpu_pair(Path("/nowhere/tiny")), make_engine=FakeFastEngine)
    queue = page.demo._queue
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (adapter.QUEUE_POLL, adapter.PROGRESS_POLL)
    assert adapter.quiet_queue(page.demo, 0.001, 0.01) == (0.01, 0.1)
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (0.001, 0.01)
