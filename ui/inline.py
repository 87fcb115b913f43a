"""An event's pre- and post-processing run in the handler's own coroutine, not in Gradio's worker threads.

Contract: for an event registered with ``preprocess=False, postprocess=False``,
``inline(handler, inputs, outputs)`` returns an async-generator handler that hands ``handler``
each input as the input component's own ``preprocess`` makes it, and sends each output as the
output component's own ``postprocess`` makes it (the value of a ``gr.update(value=...)`` too);
``gr.State`` values, Gradio's special arguments (a ``gr.Request``, after the inputs) and updates
without a value pass through. What reaches ``handler`` and the browser is what Gradio's own
processing gives (a value it refuses is refused with its message, the control's label first);
Gradio still checks that input files were uploaded and serves output files.

Why: Gradio runs each component's ``preprocess`` and ``postprocess`` through
``anyio.to_thread``, one thread hand-off per component per render. The turn event has 15 inputs
and 10 outputs; on this 2-core machine, with both engines busy, each hand-off waited for a core
(~1 ms), which made every render cost ~10-25 ms of the time to first token.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gradio.components import Component
from gradio.data_classes import GradioModel, GradioRootModel
from gradio.exceptions import Error


def _pre(component: Component, value: Any) -> Any:
    if component.stateful:
        return value
    model = getattr(component, "data_model", None)
    if model is not None and value is not None:
        value = model.model_validate(value, context={"validate_meta": True})
    try:
        return component.preprocess(value)
    except Error as err:  # e.g. a slider's value over a host's cap, from an API client: name the control
        label = getattr(component, "label", None)
        raise Error(f"{label}: {err.message}" if label else err.message) from err


def _post(component: Component, value: Any) -> Any:
    if component.stateful:
        return value
    if isinstance(value, dict) and value.get("__type__") == "update":
        if "value" not in value:
            return value
        return {**value, "value": _post(component, value["value"])}
    out = component.postprocess(value)
    return out.model_dump() if isinstance(out, (GradioModel, GradioRootModel)) else out


def inline(
    handler: Callable[..., AsyncIterator[Sequence[Any]]], inputs: Sequence[Component], outputs: Sequence[Component]
) -> Callable[..., AsyncIterator[list[Any]]]:
    """``handler`` for an event with ``preprocess=False, postprocess=False`` (see the module's contract)."""
    n = len(inputs)

    # Gradio reads the signature (and its gr.Request) through __wrapped__; the handler's __dict__ is not
    # copied: a bound method's would bring its function's own __signature__ (``ui.settings``), self included
    @functools.wraps(handler, updated=())
    async def run(*args: Any) -> AsyncIterator[list[Any]]:
        values = [_pre(c, v) for c, v in zip(inputs, args[:n], strict=True)]
        async for update in handler(*values, *args[n:]):
            yield [_post(c, v) for c, v in zip(outputs, update, strict=True)]

    return run
