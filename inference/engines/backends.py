"""Which class runs a side: one contract, several backends.

Contract: ``make_engine(spec)`` returns the engine for ``spec.backend`` (a key of ``BACKENDS``),
not started, importing its module only then; an unknown backend is a ``DemoError`` naming the
known ones. Every backend satisfies ``inference.engines.base.Backend`` (what the pool, the page
and the evaluation use) and shares ``EngineBase``'s state and restart logic.
"""

from __future__ import annotations

from importlib import import_module

from inference.engines.base import Backend
from inference.errors import DemoError
from inference.spec import ModelSpec

BACKENDS = {
    "vllm": "inference.engines.vllm_engine:Engine",  # an in-process vLLM AsyncLLM
    "remote": "inference.engines.remote:RemoteEngine",  # an OpenAI-compatible vLLM server (spec.endpoint)
    "transformers": "inference.engines.hf_engine:TransformersEngine",  # model.generate: ZeroGPU, no vLLM, a cross-check
}


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name`` (its module imported now)."""
    module, attr = BACKENDS[name].split(":")
    return getattr(import_module(module), attr)


def make_engine(spec: ModelSpec) -> Backend:
    """The engine object for one side (not started)."""
    if spec.backend not in BACKENDS:
        raise DemoError(f"{spec.label}: unknown backend {spec.backend!r}; known: {', '.join(BACKENDS)}")
    return backend_class(spec.backend)(spec)
