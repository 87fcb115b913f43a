"""GPU memory plan: do the engines fit on one GPU, and with which vLLM settings?

Contract: ``plan_memory`` is pure. From what each checkpoint needs (``gpu_needs``: its safetensors
headers and config.json, already read, measured by ``inference.deploy.headers``) and the GPU's
total and free bytes it returns a frozen ``MemoryPlan``: per side ``gpu_memory_utilization``,
KV-cache tokens and ``max_model_len``, whether everything fits, a sentence for a person and, when
it does not fit, the alternatives. The readers (local headers and Hub metadata in ``headers``,
``nvidia-smi`` output here) are separate small functions; nothing here imports vLLM or torch or
reads the environment.

    python -m inference.deploy.memory_table     # docs/deployment.md's table for common GPUs (memory_table.py)

How vLLM 0.32 spends ``gpu_memory_utilization`` (``vllm/v1/worker/utils.py: request_memory`` and
``vllm/v1/worker/gpu_worker.py: determine_available_memory``): an engine's budget is
``total_memory × gpu_memory_utilization``; its KV cache gets the budget minus what *this* engine
consumed while loading and profiling (weights, activation peak, CUDA context), measured against
the free memory at its own start. Memory other processes hold (the other engine) is *not* charged
to it: the per-instance meaning that vllm#10498 restored and vllm#18974 fixed for V1 ("two LLM
instances ... the second one will likely think it ran out of memory"). But an engine refuses to
start when the free memory at its start is below its budget ("Free memory on device ... is less
than desired GPU memory utilization"), so engines started one after the other need
``u1 + u2 ≤ free / total``. Started together they mis-measure each other (vllm#9198, vllm#55827),
which is why ``inference/engines/pool.py`` starts them in turn.

Host memory is planned too (``host_cache_bytes``): vLLM duplicates the multimodal processor cache
"for each API process and engine core process, resulting in a total memory usage of
``mm_processor_cache_gb * (api_server_count + data_parallel_size)``" (``vllm/config/multimodal.py``):
in process, one front end and one engine core per engine, so two copies per engine (4 GiB of RAM
per engine at the project's 2 GiB, 8 GiB for the pair).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inference.deploy.headers import (
    UNLOADED_PREFIXES,
    kv_bytes_per_token,
    state_bytes_per_sequence,
    tensor_bytes,
    vision_peak_bytes,
)

# The checkpoint's readers, reachable here too: ``inference.deploy.gpu`` reads through ``memory.read_checkpoint``.
from inference.deploy.headers import layer_types as layer_types
from inference.deploy.headers import read_checkpoint as read_checkpoint
from inference.deploy.headers import read_header as read_header
from inference.deploy.headers import read_hub as read_hub
from inference.deploy.headers import read_local as read_local

GiB = 2**30
MiB = 2**20

# What one engine holds besides weights and KV cache. Estimates, not measurements (no GPU here):
# * the CUDA context with cuBLAS/NCCL workspaces: nvidia-smi shows 0.5–0.7 GiB for a process that
#   has only initialised torch on an A100/H100;
CUDA_CONTEXT_BYTES = 3 * GiB // 4
# * vLLM's profile run: a forward pass over max_num_batched_tokens plus the sampler's fp32 logits
#   for max_num_seqs sequences (248320 × 4 B = 1 MiB per sequence: 1 GiB at vLLM's default of
#   1024 sequences), which vLLM keeps as activation headroom;
ACTIVATION_BYTES = 2 * GiB
# * CUDA graphs: vLLM logs "Graph capturing finished ... took 0.5–1 GiB" for 7–9B models.
CUDA_GRAPH_BYTES = 3 * GiB // 4
ENGINE_OVERHEAD_BYTES = CUDA_CONTEXT_BYTES + ACTIVATION_BYTES + CUDA_GRAPH_BYTES

# The most of the GPU the engines get together: vLLM's own default for one engine (0.92), which
# leaves room for what its profiler misses.
MAX_UTILIZATION = 0.92
DEFAULT_MAX_MODEL_LEN = 32768
MIN_MODEL_LEN = 8192  # the plan halves max_model_len down to this before it gives up

# GPUs of docs/deployment.md's table, with the total memory nvidia-smi reports (MiB).
GPUS = {
    "L4 24 GB": 23034,
    "A10G 24 GB": 23028,
    "L40S 48 GB": 46068,
    "A100 80 GB": 81920,
    "H100 80 GB": 81559,
    "H200 141 GB": 143771,
    "RTX PRO 6000 96 GB": 97887,  # Blackwell (Hugging Face's rtx-pro-6000): the figure public reports give
}
# Their CUDA compute capability: vLLM runs the FP8 checkpoint with FP8 matmuls (W8A8) from 8.9 on
# (``CompressedTensorsW8A8Fp8.get_min_capability()``), as FP8 weights with BF16 activations below.
CAPABILITY = {
    "L4 24 GB": (8, 9),
    "A10G 24 GB": (8, 6),
    "L40S 48 GB": (8, 9),
    "A100 80 GB": (8, 0),
    "H100 80 GB": (9, 0),
    "H200 141 GB": (9, 0),
    "RTX PRO 6000 96 GB": (12, 0),
}
W8A8_FROM = (8, 9)
PROCESSOR_CACHE_COPIES = 2  # per in-process engine: its front end (the app) and its engine core


def host_cache_bytes(engine_args: Iterable[Mapping[str, Any]]) -> int:
    """Host RAM the engines' multimodal processor caches hold together (vLLM's default 4 GiB where unset)."""
    return sum(
        int(PROCESSOR_CACHE_COPIES * args.get("mm_processor_cache_gb", VLLM_PROCESSOR_CACHE_GB) * GiB)
        for args in engine_args
    )


VLLM_PROCESSOR_CACHE_GB = 4  # vllm/config/multimodal.py: MultiModalConfig.mm_processor_cache_gb


def fp8_in_vllm(gpu: str) -> str:
    """How vLLM runs the FP8 checkpoint on this GPU: the scheme names of ``inference.engines.quant``."""
    return "W8A8 FP8" if CAPABILITY[gpu] >= W8A8_FROM else "weight-only FP8 (BF16 activations)"


@dataclass(frozen=True)
class Gpu:
    """One GPU's memory as ``nvidia-smi`` (or CUDA) reports it."""

    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class GpuNeeds:
    """What one checkpoint needs on the GPU, from its safetensors headers and config.json."""

    label: str  # the pane's label, e.g. "FP8"
    model: str  # Hugging Face id or local folder
    weight_bytes: int  # tensors vLLM loads
    kv_bytes_per_token: int  # K and V of the full-attention layers only
    state_bytes_per_sequence: int  # Gated DeltaNet conv + recurrent state: fixed, whatever the length
    vision_peak_bytes: int  # the vision encoder's activation peak on the largest image

    @property
    def fixed_bytes(self) -> int:
        """Everything but the KV cache: weights, engine overhead, vision peak."""
        return self.weight_bytes + ENGINE_OVERHEAD_BYTES + self.vision_peak_bytes

    def need_bytes(self, max_model_len: int) -> int:
        """The least budget that serves one sequence of ``max_model_len`` tokens."""
        return self.fixed_bytes + max_model_len * self.kv_bytes_per_token + self.state_bytes_per_sequence


@dataclass(frozen=True)
class SidePlan:
    """vLLM settings for one side."""

    label: str
    gpu_memory_utilization: float  # share of the GPU's total memory this engine may use
    kv_tokens: int  # tokens its KV cache holds (after one sequence's linear-attention state)
    max_model_len: int


@dataclass(frozen=True)
class Alternative:
    """A supported way to run when the pair does not fit."""

    title: str  # e.g. "FP8 alone"
    fits: bool
    sides: tuple[SidePlan, ...]  # the engines on this GPU
    how: str  # what to run or set, for a person


@dataclass(frozen=True)
class MemoryPlan:
    gpu: Gpu
    sides: tuple[SidePlan, ...]  # empty when it does not fit
    fits: bool
    message: str  # one paragraph for a person
    alternatives: tuple[Alternative, ...] = ()

    def side(self, label: str) -> SidePlan:
        return next(s for s in self.sides if s.label == label)


def gpu_needs(label: str, model: str, headers: Iterable[Mapping[str, Any]], config: Mapping[str, Any]) -> GpuNeeds:
    return GpuNeeds(
        label=label,
        model=model,
        weight_bytes=sum(tensor_bytes(h, UNLOADED_PREFIXES) for h in headers),
        kv_bytes_per_token=kv_bytes_per_token(config),
        state_bytes_per_sequence=state_bytes_per_sequence(config),
        vision_peak_bytes=vision_peak_bytes(config),
    )


# --- the plan ----------------------------------------------------------------------------


def _hundredths_up(nbytes: int, total: int) -> int:
    return -(-100 * nbytes // total)


def _fit(sides: Sequence[GpuNeeds], gpu: Gpu, max_model_len: int) -> tuple[SidePlan, ...] | None:
    """Utilizations in hundredths: each side its least need, the rest split so that every side's
    KV cache holds the same number of tokens (a fair comparison). ``None`` when they do not fit."""
    cap = min(int(100 * MAX_UTILIZATION), 100 * gpu.free_bytes // gpu.total_bytes - 1)
    least = [_hundredths_up(s.need_bytes(max_model_len), gpu.total_bytes) for s in sides]
    if sum(least) > cap:
        return None
    spare = cap - sum(least)
    kv_sum = sum(s.kv_bytes_per_token for s in sides)
    shares = [least[i] + spare * s.kv_bytes_per_token // kv_sum for i, s in enumerate(sides)]

    def kv_tokens(side: GpuNeeds, hundredths: int) -> int:
        budget = gpu.total_bytes * hundredths // 100
        return (budget - side.fixed_bytes - side.state_bytes_per_sequence) // side.kv_bytes_per_token

    for _ in range(cap - sum(shares)):  # what rounding left over: to the side with the smallest cache
        i = min(range(len(sides)), key=lambda i: kv_tokens(sides[i], shares[i]))
        shares[i] += 1
    return tuple(
        SidePlan(side.label, hundredths / 100, kv_tokens(side, hundredths), max_model_len)
        for side, hundredths in zip(sides, shares, strict=True)
    )


def _fit_shrinking(sides: Sequence[GpuNeeds], gpu: Gpu, max_model_len: int) -> tuple[SidePlan, ...] | None:
    """``_fit`` at ``max_model_len``, then at halves of it down to ``MIN_MODEL_LEN``."""
    length = max_model_len
    while True:
        plans = _fit(sides, gpu, length)
        if plans or length <= MIN_MODEL_LEN:
            return plans
        length = max(MIN_MODEL_LEN, length // 2)


def as_gib(nbytes: float) -> str:
    return f"{nbytes / GiB:.1f} GiB"


def _describe(plans: Sequence[SidePlan]) -> str:
    parts = [f"{p.label} {p.gpu_memory_utilization:.2f} (KV cache ~{p.kv_tokens:,} tokens)" for p in plans]
    return f"gpu_memory_utilization {', '.join(parts)}, max_model_len {plans[0].max_model_len}"


def plan_memory(sides: Sequence[GpuNeeds], gpu: Gpu, max_model_len: int = DEFAULT_MAX_MODEL_LEN) -> MemoryPlan:
    """Whether ``sides`` fit on ``gpu`` started one after the other, and with which settings."""
    where = f"{gpu.name} ({as_gib(gpu.total_bytes)}, {as_gib(gpu.free_bytes)} free)"
    plans = _fit_shrinking(sides, gpu, max_model_len)
    names = " and ".join(s.label for s in sides)
    if plans:
        shorter = (
            f" max_model_len is {plans[0].max_model_len}, not {max_model_len}, so that they fit."
            if plans[0].max_model_len < max_model_len
            else ""
        )
        used = sum(p.gpu_memory_utilization for p in plans)
        message = f"{names} fit on {where}: {_describe(plans)}; {used:.2f} of the GPU together.{shorter}"
        return MemoryPlan(gpu, plans, True, message)

    needs = ", ".join(f"{s.label} {as_gib(s.need_bytes(MIN_MODEL_LEN))}" for s in sides)
    cap = min(MAX_UTILIZATION * gpu.total_bytes, gpu.free_bytes)
    message = (
        f"{names} do not fit on {where}. Each engine needs its weights, about {as_gib(ENGINE_OVERHEAD_BYTES)} "
        f"for CUDA context, activations and CUDA graphs, the vision encoder's peak and a KV cache of at "
        f"least {MIN_MODEL_LEN} tokens: {needs}, while vLLM may use at most {as_gib(cap)} here."
    )
    alternatives = _alternatives(sides, gpu, max_model_len) if len(sides) > 1 else ()
    if alternatives:
        message += " " + " ".join(a.how for a in alternatives)
    return MemoryPlan(gpu, (), False, message, alternatives)


def _alternatives(sides: Sequence[GpuNeeds], gpu: Gpu, max_model_len: int) -> tuple[Alternative, ...]:
    """Each side alone on this GPU, and the reference side on a remote vLLM server."""
    out = []
    for side in sorted(sides, key=lambda s: s.weight_bytes):
        plans = _fit_shrinking([side], gpu, max_model_len)
        if plans:
            how = f"{side.label} alone fits ({_describe(plans)}): python app.py --model {side.label}={side.model}."
        else:
            how = f"{side.label} alone does not fit either (needs {as_gib(side.need_bytes(MIN_MODEL_LEN))})."
        out.append(Alternative(f"{side.label} alone", plans is not None, plans or (), how))
    smallest, largest = min(sides, key=lambda s: s.weight_bytes), max(sides, key=lambda s: s.weight_bytes)
    here = _fit_shrinking([smallest], gpu, max_model_len)
    out.append(
        Alternative(
            f"{largest.label} on a remote vLLM server",
            here is not None,
            here or (),
            f"Or serve {largest.label} ({largest.model}) from a vLLM server on another GPU and run only "
            f"{smallest.label} here.",
        )
    )
    return tuple(out)


def parse_nvidia_smi(text: str) -> Gpu:
    """The first GPU of ``nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits``."""
    fields = [f.strip() for f in text.strip().splitlines()[0].split(",")]
    if len(fields) != 3:
        raise ValueError(f"unexpected nvidia-smi output: {text!r}")
    name, total, free = fields
    return Gpu(name, int(total) * MiB, int(free) * MiB)
