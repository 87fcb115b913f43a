"""Every use of Gradio's internals, in one place: the rest of ``ui/`` uses its public API only.

Contract: ``bind(fn, inputs, outputs=None)`` is how an event reaches a handler. ``inputs`` names
what each of ``fn``'s parameters receives: a component's value, or, for a mapping of components
by name, one dict of their values by those names (the settings panel). Gradio and its API see one
named parameter per component (a client may send ``max_tokens=7``); ``fn``'s parameters that
``inputs`` does not name (a ``gr.Request``) are filled by Gradio as usual. The returned ``Bound``
is the function to register and its input components, in order. With ``outputs`` (``fn`` an async
generator; the event registered with ``preprocess=False, postprocess=False``) each input is handed
to ``fn`` as the component's own ``preprocess`` makes it and each output sent as its own
``postprocess`` makes it (the value of a ``gr.update(value=...)`` too), in ``fn``'s coroutine:
what reaches ``fn`` and the browser is what Gradio's own processing gives (a value it refuses is
refused with its message, the control's label first); ``gr.State`` values, special arguments
and updates without a value pass through; Gradio still checks that input files were uploaded and
serves output files. Why: Gradio runs each component's processing through ``anyio.to_thread``,
one thread hand-off per component per render; the turn event has ~15 inputs and ~10 outputs and on
a 2-core machine with both engines busy each hand-off waited ~1 ms for a core, 10-25 ms of the
time to first token per render.

``cheap_skips()`` (idempotent; ``ui.layout.build_demo`` calls it): an output given as a bare
``gr.skip()`` reaches the browser as Gradio sends it (``{"__type__": "update"}``), without what Gradio
does first for every update: build a new component from the old one's arguments and its config
(here 1-10 ms each, e.g. HighlightedText 2.0, LinePlot 2.7, Chatbot 10.5), which a skip leaves as
it was. A streaming turn's render skips six of its twelve outputs (the divergence views, plot,
verdict and notice while only the answers grow): ~10-12 ms of the server's event loop per render
per streaming user before (``make bench-skips``).
Outputs given anything else, and ``gr.State`` outputs, go through Gradio's own code as before.

``quiet_queue(demo)`` (``ui.serve.build`` calls it after ``demo.queue``): the queue's loop looks for
a new event every ``QUEUE_POLL`` seconds when it has none (Gradio's own: 1 ms on Linux, 50 ms on
Windows) and for progress to send every ``PROGRESS_POLL`` (10 ms; 100 ms on Windows; the page
shows no ``gr.Progress``). An idle page's server took 7.5 % of a core, now 3.0 %; an event may
wait up to 10 ms longer before its handler starts, lost in a ~160 ms round trip (``make bench-idle``).

``root_url(request)`` and ``file_link(root, path)``: a user file's URL on this page, as Gradio
builds the ones it hands out (``ui.links``); ``upload_folder()``: where Gradio keeps uploads
(``ui.inputs``); ``state_holder(app)``, ``closed_sessions(holder)`` and ``forget_session(holder,
key)``: the sessions Gradio keeps (``ui.sessions``).

Gradio internals relied on (``tests/test_gradio_adapter.py`` checks each one by its name and fails
with a sentence naming the one a Gradio upgrade changed; ``requirements/*.txt`` pin Gradio for them):
- signature: Gradio reads a handler's parameters with ``inspect.signature`` (so a generated
  ``__signature__``) and finds a ``gr.Request`` among them by ``typing.get_type_hints`` (so
  ``__annotations__``): ``gradio.utils.get_function_params``, ``gradio.helpers.special_args``.
- stateful: ``Component.stateful`` is true for ``gr.State``, whose value Gradio passes unprocessed.
- validate_meta: before ``preprocess``, Gradio validates an input with
  ``data_model.model_validate(value, context={"validate_meta": True})`` (``Blocks.preprocess_data``).
- update: ``gr.update(...)`` is a dict whose ``"__type__"`` is ``"update"``.
- postprocess_data: ``Blocks.postprocess_data(block_fn, predictions, state)`` processes an event's
  outputs (``block_fn.outputs``, a list of one prediction each, a lone prediction for one output);
  for an update it rebuilds the component, then sends ``postprocess_update_dict(block, update,
  postprocess)``, which for a bare ``gr.skip()`` reads nothing the rebuild changed.
- model_dump: ``postprocess`` may return a ``GradioModel``/``GradioRootModel``, sent as ``model_dump()``.
- file_url: a file's URL is ``route_utils.get_root_url(request, route_utils.get_api_call_path(request),
  root_path)`` + ``route_utils.API_PREFIX`` + ``/file=`` + ``gradio_client.utils.encode_file_path(path)``.
- queue_polls: ``Blocks.queue`` makes ``demo._queue``, a ``gradio.queueing.Queue`` whose
  ``start_processing`` sleeps ``sleep_when_free`` seconds whenever it finds no event to start and
  whose ``start_progress_updates`` sleeps ``progress_update_sleep_when_free`` between its looks.
- upload_folder: ``gradio.utils.get_upload_folder()`` is where uploads land.
- state_holder: an app's ``state_holder`` keeps sessions in ``session_data`` and ``time_last_used``
  under ``lock``, each with ``is_closed``; ``delete_state(key)`` runs their ``gr.State`` delete callbacks.
"""

from __future__ import annotations

import copy
import datetime
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio import route_utils
from gradio import utils as gr_utils
from gradio.blocks import postprocess_update_dict
from gradio.components import Component
from gradio.data_classes import FileData, GradioModel, GradioRootModel
from gradio_client import utils as client_utils

# --- handlers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A handler as Gradio calls it: register ``fn`` with ``inputs`` (see ``bind``)."""

    fn: Callable[..., Any]
    inputs: list[Component]


def bind(
    fn: Callable[..., Any],
    inputs: Mapping[str, Component | Mapping[str, Component]],
    outputs: Sequence[Component] | None = None,
) -> Bound:
    """``fn`` as the handler of an event with ``inputs`` (see the module's contract)."""
    params = inspect.signature(fn, eval_str=True).parameters
    unknown = set(inputs) - set(params)
    if unknown:
        raise TypeError(f"{fn.__qualname__} has no parameter {', '.join(sorted(unknown))}")
    # (fn's parameter, the dict key or None, the component): one API parameter each, named by key or parameter
    slots = [
        (name, key, c)
        for name, given in inputs.items()
        for key, c in (given.items() if isinstance(given, Mapping) else [(None, given)])
    ]
    spread = [inspect.Parameter(key or name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name, key, _ in slots]
    rest = [p for name, p in params.items() if name not in inputs]
    signature = inspect.Signature([*spread, *rest])
    inline = outputs is not None

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        given = signature.bind(*args, **kwargs).arguments
        out: dict[str, Any] = {name: {} for name, c in inputs.items() if isinstance(c, Mapping)}
        for (name, key, c), p in zip(slots, spread, strict=True):
            value = _pre(c, given.pop(p.name)) if inline else given.pop(p.name)
            if key is None:
                out[name] = value
            else:
                out[name][key] = value
        return {**out, **given}

    method: Callable[..., Any]  # one of four, by how ``fn`` returns (Gradio tells them apart the same way)
    if outputs is not None:
        if not inspect.isasyncgenfunction(fn):
            raise TypeError(f"{fn.__qualname__}: processing inline needs an async generator")

        async def method(*args: Any, **kwargs: Any) -> Any:
            async for update in fn(**arguments(args, kwargs)):
                yield [_post(c, v) for c, v in zip(outputs, update, strict=True)]

    elif inspect.isasyncgenfunction(fn):

        async def method(*args: Any, **kwargs: Any) -> Any:
            async for update in fn(**arguments(args, kwargs)):
                yield update

    elif inspect.iscoroutinefunction(fn):

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await fn(**arguments(args, kwargs))

    else:

        def method(*args: Any, **kwargs: Any) -> Any:
            return fn(**arguments(args, kwargs))

    method.__name__, method.__qualname__, method.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    method.__signature__ = signature  # type: ignore[union-attr]  # read by inspect.signature (Gradio)
    method.__annotations__ = {p.name: p.annotation for p in rest if p.annotation is not p.empty}
    return Bound(method, [c for _, _, c in slots])


def _pre(component: Component, value: Any) -> Any:
    if component.stateful:
        return value
    model = getattr(component, "data_model", None)
    if model is not None and value is not None:
        value = model.model_validate(value, context={"validate_meta": True})
    try:
        return component.preprocess(value)
    except gr.Error as err:  # e.g. a slider's value over a host's cap, from an API client: name the control
        label = getattr(component, "label", None)
        raise gr.Error(f"{label}: {err.message}" if label else err.message) from err


def _post(component: Component, value: Any) -> Any:
    if component.stateful:
        return value
    if isinstance(value, dict) and value.get("__type__") == "update":
        if "value" not in value:
            return value
        return {**value, "value": _post(component, value["value"])}
    out = component.postprocess(value)  # type: ignore[no-untyped-call]  # untyped on Gradio's ComponentBase
    return out.model_dump() if isinstance(out, (GradioModel, GradioRootModel)) else out


# --- skips -----------------------------------------------------------------------------------

SKIP: dict[str, str] = {"__type__": "update"}  # a bare gr.skip(), as Gradio sends it


def cheap_skips() -> None:
    """Gradio sends a bare ``gr.skip()`` without rebuilding its component (see the module's contract)."""
    original = gr.Blocks.postprocess_data
    if getattr(original, "cheap_skips", False):
        return

    async def postprocess_data(self: gr.Blocks, block_fn: Any, predictions: Any, state: Any) -> list[Any]:
        outputs = list(block_fn.outputs)
        plain = not block_fn.batch and not block_fn.is_validator_function
        if plain and isinstance(predictions, (list, tuple)) and len(predictions) == len(outputs) > 1:
            kept = [i for i, (c, p) in enumerate(zip(outputs, predictions, strict=True)) if c.stateful or not _bare(p)]
            if len(kept) < len(outputs):  # what Gradio sends for a skip, minus the rebuild
                out = [postprocess_update_dict(c, dict(SKIP), block_fn.postprocess) for c in outputs]
                if kept:
                    rest = copy.copy(block_fn)
                    rest.outputs = [outputs[i] for i in kept]
                    given = [predictions[i] for i in kept]
                    done = await original(self, rest, given if len(kept) > 1 else given[0], state)
                    for i, value in zip(kept, done, strict=True):
                        out[i] = value
                return out
        return await original(self, block_fn, predictions, state)

    postprocess_data.cheap_skips = True  # type: ignore[attr-defined]
    postprocess_data.original = original  # type: ignore[attr-defined]
    gr.Blocks.postprocess_data = postprocess_data  # type: ignore[method-assign]


def _bare(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and value.get("__type__") == "update"


# --- the queue's polls -----------------------------------------------------------------------

QUEUE_POLL = 0.01  # seconds between an idle queue's looks for a new event (Gradio: 0.001 on Linux)
PROGRESS_POLL = 0.1  # seconds between looks for progress to send (Gradio: 0.01 on Linux)


def quiet_queue(demo: gr.Blocks, poll: float = QUEUE_POLL, progress: float = PROGRESS_POLL) -> tuple[float, float]:
    """The queue of ``demo`` (after ``demo.queue``) polls every ``poll`` and ``progress`` seconds
    (see the module's contract); returns the two it had, so a benchmark can put Gradio's back."""
    queue = demo._queue
    before = (queue.sleep_when_free, queue.progress_update_sleep_when_free)
    queue.sleep_when_free, queue.progress_update_sleep_when_free = poll, progress
    return before


# --- files -----------------------------------------------------------------------------------


def root_url(request: Any) -> str | None:
    """This page's public root URL for ``request`` (a ``gr.Request``), as Gradio computes it for the
    URLs it hands out (proxy headers and ``root_path`` included); ``None`` without an HTTP request."""
    raw = getattr(request, "request", None)
    if raw is None or not hasattr(raw, "url"):
        return None
    app = raw.scope.get("app") if hasattr(raw, "scope") else None
    return route_utils.get_root_url(raw, route_utils.get_api_call_path(raw), getattr(app, "root_path", None))


def file_link(root: str, path: str) -> FileData:
    """A file Gradio serves (an upload) as chat content addressed by its URL under ``root``."""
    url = f"{root}{route_utils.API_PREFIX}/file={client_utils.encode_file_path(path)}"
    return FileData(path=path, url=url, mime_type=client_utils.get_mimetype(path))


def upload_folder() -> str:
    """Where Gradio keeps the files visitors upload."""
    return gr_utils.get_upload_folder()


# --- sessions --------------------------------------------------------------------------------


def state_holder(app: Any) -> Any | None:
    """The sessions a running Gradio app keeps (its ``StateHolder``), if it has one."""
    return getattr(app, "state_holder", None)


def closed_sessions(holder: Any, idle: datetime.timedelta, now: datetime.datetime) -> list[str]:
    """The sessions whose tab has closed and that were not used for ``idle``."""
    return [
        key
        for key, state in list(holder.session_data.items())
        if getattr(state, "is_closed", False) and now - holder.time_last_used.get(key, now) >= idle
    ]


def forget_session(holder: Any, key: str) -> None:
    """Drop one session, running its states' delete callbacks as Gradio's own expiry does."""
    holder.delete_state(key)
    with holder.lock:
        holder.session_data.pop(key, None)
        holder.time_last_used.pop(key, None)
