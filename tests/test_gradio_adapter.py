"""What ``ui.gradio_adapter`` relies on in Gradio still holds: one probe per internal its docstring
lists, each failing with a sentence that names the internal a Gradio upgrade changed.

Engine-free: each probe drives Gradio's own code (no page served); ``test_sessions.py`` and
``test_turn.py`` drive the adapter's functions themselves.
"""

from __future__ import annotations

import datetime
import inspect
import re
import typing
from collections.abc import Callable
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio import helpers, route_utils, routes
from gradio import utils as gr_utils
from gradio.data_classes import GradioModel, GradioRootModel
from gradio.state_holder import SessionState, StateHolder
from gradio_client import utils as client_utils

import ui.gradio_adapter as adapter


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


PROBES: dict[str, Callable[[], None]] = {
    "signature": _signature,
    "stateful": _stateful,
    "validate_meta": _validate_meta,
    "update": _update,
    "model_dump": _model_dump,
    "file_url": _file_url,
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
