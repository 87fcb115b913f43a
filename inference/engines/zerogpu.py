"""ZeroGPU glue: a Hugging Face ZeroGPU Space lends a GPU per call of a function wrapped in ``spaces.GPU``.

Contract: ``zerogpu(task, duration)`` returns ``task`` wrapped in ``spaces.GPU`` (asking
``duration(*args)`` for each call's GPU seconds) and ``True`` on a ZeroGPU Space (``spaces``' own
check), else ``task`` itself and ``False``; wrap before the server starts (ZeroGPU registers its
GPU functions at launch). ``gpu_seconds`` is a request's ask: ``ZEROGPU_SECONDS`` plus
``ZEROGPU_PER_TOKEN`` per new token (55.6 s for 256 tokens). ZeroGPU counts an ask against the
visitor's quota times its GPU's ``duration_factor`` (``spaces/zero/client.py:
get_duration_seconds``; ``spaces/zero/configs.json``): ×1 on an H200, ×1.5 on the RTX PRO 6000's
default ``large`` size (half the card, 48 GB), so the same 256-token answer counts 83.4 s per side
there. ``ZEROGPU_TORCH`` and ``ZEROGPU_PYTHON`` are the versions ZeroGPU documents (kept here with
their source; ``requirements/zerogpu.txt`` pins one of them). Imports ``spaces`` only where it is
installed.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any, ParamSpec, TypeVar

from inference.inputs.chat import GenerationSettings

ZEROGPU_SECONDS = 30.0  # a request's GPU time on ZeroGPU: this plus ZEROGPU_PER_TOKEN per new token
ZEROGPU_PER_TOKEN = 0.1

# What a ZeroGPU Space may run, from the ZeroGPU page of the Hub docs (huggingface/hub-docs,
# docs/hub/spaces-zerogpu.md, "Supported versions", as of August 2026; read 2026-12-06). Its GPUs
# are in the spaces package itself (spaces 0.51.3: zero/configs.json: H200, RTX PRO 6000 Blackwell).
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
ZEROGPU_PYTHON = ("3.10.13", "3.12.12")

P = ParamSpec("P")
R = TypeVar("R")


def zerogpu(task: Callable[P, R], duration: Callable[P, float]) -> tuple[Callable[P, R], bool]:
    """``task`` wrapped in ``spaces.GPU`` on a ZeroGPU Space, else as is; and whether it was."""
    if find_spec("spaces") is None:
        return task, False
    import spaces
    from spaces.config import Config

    if not Config.zero_gpu:
        return task, False
    return spaces.GPU(task, duration=duration), True  # spaces is untyped: its wrapper keeps the signature


def gpu_seconds(inputs: dict[str, Any], settings: GenerationSettings, max_new: int) -> float:
    """The GPU time to ask for one ``generate`` call (its arguments, as ``spaces.GPU`` passes them)."""
    return ZEROGPU_SECONDS + ZEROGPU_PER_TOKEN * max_new
