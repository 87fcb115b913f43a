"""Which class runs a side: one contract, several backends.

Contract: ``BACKENDS`` maps each backend's name (``ModelSpec.backend``) to its class, a
``Backend``; ``make_engine(spec)`` returns the engine for ``spec.backend``, not started; an unknown
backend is a ``DemoError`` naming the known ones. ``EngineFactory`` is what makes an engine from a
spec: ``make_engine`` here, a fake in tests (``EnginePool(specs, make=...)``). Importing this
module loads no engine library: each backend imports vLLM, torch or transformers when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from inference.engines.base import Backend
from inference.engines.hf_engine import TransformersEngine
from inference.engines.remote import RemoteEngine
from inference.engines.vllm_engine import Engine
from inference.errors import DemoError
from inference.spec import ModelSpec

EngineFactory = Callable[[ModelSpec], Backend]
"""Makes the engine (not started) for one side's spec."""

BACKENDS: Mapping[str, type[Backend]] = MappingProxyType(
    {
        "vllm": Engine,  # an in-process vLLM AsyncLLM
        "remote": RemoteEngine,  # an OpenAI-compatible vLLM server (spec.endpoint)
        "transformers": TransformersEngine,  # model.generate: ZeroGPU, no vLLM, a cross-check
    }
)
"""Backend name → the class that runs it (read-only)."""


def make_engine(spec: ModelSpec) -> Backend:
    """The engine object for one side (not started)."""
    cls = BACKENDS.get(spec.backend)
    if cls is None:
        raise DemoError(f"{spec.label}: unknown backend {spec.backend!r}; known: {', '.join(BACKENDS)}")
    return cls(spec)
