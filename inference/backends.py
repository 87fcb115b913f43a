"""Which class runs a side: one engine interface, several backends.

Contract: ``make_engine(spec)`` returns the engine for ``spec.backend`` (a key of
``BACKENDS``), importing its module only then; an unknown backend is a ``DemoError`` naming the
known ones. Every backend offers what ``inference.engine.Engine`` offers and the pool and the UI
use: ``spec``, ``start()`` and ``restart()`` (blocking, from a thread), ``started``, ``alive``,
``restarting``, ``restarts``, ``footprint``, ``async stream(prepared, answers, settings)``
yielding ``Chunk``s (cancelling it stops the request), ``async warm_up()``,
``prompt_tokens(...)``, ``decode(ids)``, ``num_unfinished_requests()``, ``async has_work()``
and an idempotent ``shutdown()``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from inference.errors import DemoError
from inference.spec import ModelSpec

BACKENDS = {
    "vllm": "inference.engine:Engine",  # an in-process vLLM AsyncLLM
    "remote": "inference.remote:RemoteEngine",  # an OpenAI-compatible vLLM server (spec.endpoint)
    "transformers": "inference.hf_engine:TransformersEngine",  # model.generate: ZeroGPU, no vLLM, a cross-check
}


def make_engine(spec: ModelSpec) -> Any:
    """The engine object for one side (not started)."""
    try:
        where = BACKENDS[spec.backend]
    except KeyError:
        raise DemoError(f"{spec.label}: unknown backend {spec.backend!r}; known: {', '.join(BACKENDS)}") from None
    module, name = where.split(":")
    return getattr(import_module(module), name)(spec)
