"""ZeroGPU glue: a Hugging Face ZeroGPU Space lends a GPU per call of a function wrapped in ``spaces.GPU``.

Contract: ``zerogpu(task, duration)`` returns ``task`` wrapped in ``spaces.GPU`` (asking
``duration(*args)`` for each call's GPU seconds) and ``True`` on a ZeroGPU Space (``spaces``' own
check), else ``task`` itself and ``False``; wrap before the server starts (ZeroGPU registers its
GPU functions at launch). ``gpu_seconds`` is a request's ask: ``ZEROGPU_SECONDS`` plus
``ZEROGPU_PER_TOKEN`` per new token. Imports ``spaces`` only where it is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec

from inference.inputs.chat import GenerationSettings

ZEROGPU_SECONDS = 30.0  # a request's GPU time on ZeroGPU: this plus ZEROGPU_PER_TOKEN per new token
ZEROGPU_PER_TOKEN = 0.1


def zerogpu(task: Callable, duration: Callable) -> tuple[Callable, bool]:
    """``task`` wrapped in ``spaces.GPU`` on a ZeroGPU Space, else as is; and whether it was."""
    if find_spec("spaces") is None:
        return task, False
    import spaces
    from spaces.config import Config

    if not Config.zero_gpu:
        return task, False
    return spaces.GPU(task, duration=duration), True


def gpu_seconds(inputs: dict, settings: GenerationSettings, max_new: int) -> float:
    """The GPU time to ask for one ``generate`` call (its arguments, as ``spaces.GPU`` passes them)."""
    return ZEROGPU_SECONDS + ZEROGPU_PER_TOKEN * max_new
