"""The engine contract: what every engine that runs a side provides, and the state they share.

Contract: ``Backend`` (an ABC) is the one type the pool, the page and the evaluation hold an engine
as; every backend (a value of ``inference.engines.backends.BACKENDS``) and the test fake
(``inference.engines.fake``) subclass it, implement its abstract methods, and keep its fields
(``spec``, ``footprint``, ``kv_usage``, ``restarting``, ``closed``, ``restarts``, ``cannot_show``,
``on_zerogpu``, ``collectors``); it gives them the ``restart()`` skeleton (mark restarting, stop,
start again, count) and ``shutdown()``. mypy (``make lint``) holds the backends and their callers to it;
``tests/test_backends.py`` checks what typing cannot (async where it says so, the shared state).
``Footprint`` is what a started engine holds; ``weight_bytes`` reads a checkpoint's size. Imports
no engine library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inference.compare.metrics import Chunk
from inference.compare.scores import TokenScore
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared
from inference.spec import ModelSpec

if TYPE_CHECKING:
    from prometheus_client.registry import Collector


@dataclass(frozen=True)
class Footprint:
    """What an engine holds: checkpoint weights (bytes of its safetensors files) and KV-cache capacity."""

    weight_bytes: int | None
    kv_tokens: int | None  # tokens the KV cache can hold, all requests together (vLLM's own count)
    scheme: str | None = None  # the quantization scheme the engine runs (``engines.quant``); None: unquantized
    # The linear kernel(s) the quantized layers actually run, read from the engine after it started
    # (vLLM: ``cpu_fp8.KernelReport``), and that route in words (``engines.quant.kernel_route``).
    kernel: str | None = None
    route: str | None = None
    # True when FP8's speed here is not that of native FP8 matmuls (emulated in BF16, torch's CPU
    # fallback, a weight-only kernel): the page says so next to every FP8 speed figure.
    emulated: bool = False
    # The BF16 GEMM(s) vLLM's CPU dispatch picked for the linear layers, in words, most layers first
    # (``cpu_fp8.cpu_gemms``: e.g. "oneDNN onednn_mm"); None off the CPU or where not read.
    gemm: str | None = None


def weight_bytes(model: str) -> int | None:
    """Bytes of a checkpoint's ``*.safetensors`` files: a local folder, or a Hub id already cached."""
    folder = Path(model)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model, local_files_only=True, allow_patterns=["*.safetensors"]))
        except Exception:  # not cached: unknown rather than wrong
            return None
    files = list(folder.glob("*.safetensors"))
    return sum(f.stat().st_size for f in files) if files else None


class Backend(ABC):
    """What runs one side. ``start`` and ``restart`` block (call them from a thread with no running
    event loop); the async methods run in the loop that streams. A subclass implements ``start``,
    ``_stop`` (drop what ``start`` built; nothing if nothing was built) and the abstract methods;
    ``score`` is refused unless it overrides it."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec  # the side it runs (a remote backend fills in the served model once started)
        self.footprint = Footprint(None, None)  # what it holds: known once started
        self.kv_usage: float | None = None  # the KV cache's current use (0..1); None: the backend cannot say
        self.restarting = False  # a replacement is starting: a turn sent meanwhile is refused on this side alone
        self.closed = False  # shut down for good: a start still under way undoes itself
        self.restarts = 0  # replacements so far
        self.cannot_show: tuple[str, ...] = ()  # figures this side cannot give (a server that is not vLLM)
        self.on_zerogpu = False  # its GPU work runs in ``spaces.GPU`` (a ZeroGPU Space): the app says so
        # the engine's own Prometheus collectors (vLLM's), served on /metrics labelled with the side
        self.collectors: list[Collector] = []

    @abstractmethod
    def start(self) -> None:
        """Load the model and make the engine ready to stream; blocking, from a thread with no
        running event loop. A failure raises (the pool records it and stops starting)."""

    @abstractmethod
    def _stop(self) -> None:
        """Drop what ``start`` built (nothing if nothing was built)."""

    def _start_again(self) -> None:
        """``restart``'s start: once, unless the backend waits for something to come back."""
        self.start()

    def restart(self) -> None:
        """Replace a dead (or live) engine with a new one: blocking, from a thread with no running loop."""
        self.restarting = True
        try:
            self._stop()
            self.kv_usage = None
            self._start_again()
            self.restarts += 1
        finally:
            self.restarting = False

    def shutdown(self) -> None:
        """Stop for good; idempotent, safe at any point of a start."""
        self.closed = True
        self._stop()

    @property
    @abstractmethod
    def started(self) -> bool:
        """``start`` has succeeded (and ``shutdown`` not been called)."""

    @property
    @abstractmethod
    def alive(self) -> bool:
        """Started and still able to answer; false makes the pool call ``restart``."""

    @abstractmethod
    def stream(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> AsyncIterator[Chunk]:
        """The answer as ``Chunk``s (an async generator), the first one with the prompt's size;
        cancelling the consumer stops the request; every failure is a ``DemoError``."""

    @abstractmethod
    async def warm_up(self) -> None:
        """Run what is compiled or loaded lazily, before a user waits on it."""

    async def score(
        self,
        prepared: Prepared,
        answers: Sequence[str],
        settings: GenerationSettings,
        token_ids: Sequence[int],
        top: int = 2,
    ) -> list[TokenScore]:
        """Teacher-forced scores of ``token_ids`` after this turn's prompt (``compare.scores``),
        each with the ``top`` likeliest tokens; a backend that cannot score raises ``DemoError``."""
        raise DemoError(f"{self.spec.label}: the {self.spec.backend} backend does not score answers.")

    @abstractmethod
    def prompt_tokens(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> int:
        """The prompt's length in tokens as this engine will count it, before it is sent."""

    @abstractmethod
    def decode(self, token_ids: Sequence[int]) -> str:
        """Answer token ids to text, special tokens skipped."""

    @abstractmethod
    def num_unfinished_requests(self) -> int:
        """Requests the engine holds now (streaming or queued)."""

    @abstractmethod
    async def has_work(self) -> bool:
        """Whether the engine still holds any request (aborted ones included)."""
