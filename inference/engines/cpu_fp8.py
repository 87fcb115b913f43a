"""FP8 W8A8 on CPUs without FP8 matmuls: a vLLM linear kernel that keeps the FP8 weights, quantises
activations per token to FP8 exactly as the checkpoint's ``FP8_DYNAMIC`` recipe says, and multiplies
the FP8 values in BF16.

Contract: ``register()`` is a vLLM general plugin (entry point ``vllm.general_plugins`` in
pyproject.toml, so vLLM loads it in every process it starts: front end, EngineCore, workers). On the
CPU platform it adds ``CPUEmulatedFP8ScaledMMLinearKernel`` to vLLM's FP8 kernels right after vLLM's
own native CPU kernels (AMX-FP8, Diamond Rapids and later) and before the ``torch._scaled_mm`` ones;
elsewhere it does nothing. vLLM's own switch turns it off: ``VLLM_DISABLED_KERNELS=
CPUEmulatedFP8ScaledMMLinearKernel`` gives back vLLM's choice (``bench/fp8_cpu.py`` measures both).

Why: vLLM 0.32 sends a per-channel FP8 checkpoint on a CPU without AMX-FP8 to
``ChannelWiseTorchFP8ScaledMMLinearKernel``, i.e. ``torch._scaled_mm``; on an Intel Xeon with AMX
torch hands that to oneDNN's *reference* FP8 matmul (14–23x slower than BF16 per matmul, the tiny
FP8 engine ~70x slower than BF16), on AVX2 to ATen's scalar-cast fallback. Every x86 CPU of this
project's machines has the BF16 matmul the BF16 side runs (oneDNN's or sgl-kernel's on AMX and
AVX-512-BF16; on AVX2, where oneDNN makes none, torch's own), and FP8 E4M3
values are exact in BF16 (3 mantissa bits in 7), so the product of the FP8 values is the same
number a native FP8 matmul forms before its scales; only its rounding to BF16 before the scales
are applied differs (one BF16 rounding, ~0.4 % relative, where ``_scaled_mm`` gives FP32).

Numerics per layer, with ``X`` the BF16 input and ``W8, s_w`` the checkpoint's FP8 weight and
per-channel scale: ``X8, s_x = quant_fp8(X)`` (vLLM's per-token dynamic quantisation, bit for bit), then
``Y = (X8.bf16 @ W8.bf16) * (s_x * s_w)``, the scales applied in FP32, cast to BF16, plus the bias;
the BF16 product is the GEMM vLLM runs for an unquantised BF16 layer of that shape on this CPU.
Memory: ``W8`` is widened to BF16 once at load (exact), since torch's FP8 casts on CPU are scalar
code and widening per call cost ~20x the matmul; so on CPU the FP8 side holds its quantized layers
in BF16's bytes, and the page says so (``engines.quant.CPU_ROUTES``). The checkpoint on disk, and
the FP8 weights in GPU memory, are what the weights figure measures.

``KernelReport`` is a vLLM worker extension (``worker_extension_cls``): ``collective_rpc
("fp8_kernels")`` returns the linear kernel classes the loaded model's quantized layers actually run,
counted, so the page names what runs rather than what should; ``collective_rpc("cpu_gemms")`` the
BF16 GEMMs vLLM's CPU dispatch picked for the linear layers (the emulated FP8 ones included), counted
(``cpu_gemms``: oneDNN's ``onednn_mm``, sgl-kernel's ``weight_packed_linear`` for weights up to 1 MiB on
AMX, zentorch, or torch's linear; empty off the CPU).
"""

from __future__ import annotations

from collections import Counter

import torch
from vllm.model_executor.kernels.linear.scaled_mm.ScaledMMLinearKernel import (
    FP8ScaledMMLinearKernel,
    FP8ScaledMMLinearLayerConfig,
)
from vllm.model_executor.layers.quantization.input_quant_fp8 import _FP8_MAX as FP8_MAX
from vllm.model_executor.layers.quantization.input_quant_fp8 import _FP8_MIN_SCALING_FACTOR as MIN_SCALE
from vllm.model_executor.layers.quantization.utils.quant_utils import GroupShape
from vllm.platforms import current_platform

KERNEL = "CPUEmulatedFP8ScaledMMLinearKernel"


class CPUEmulatedFP8ScaledMMLinearKernel(FP8ScaledMMLinearKernel):
    """W8A8 FP8 with per-token activation and per-channel (or per-tensor) weight scales, on CPU:
    FP8 operands widened to BF16 (exact), one BF16 matmul, the scales applied in FP32."""

    @classmethod
    def is_supported(cls, compute_capability: int | None = None) -> tuple[bool, str | None]:
        if not current_platform.is_cpu():
            return False, "requires the CPU platform."
        return True, None

    @classmethod
    def can_implement(cls, c: FP8ScaledMMLinearLayerConfig) -> tuple[bool, str | None]:
        scale = c.activation_quant_key.scale
        if scale.static or scale.group_shape != GroupShape.PER_TOKEN:
            return False, "does dynamic per-token activation scales only (FP8_DYNAMIC)."
        if c.out_dtype not in (None, torch.bfloat16, torch.float32):
            return False, f"supports BF16 or FP32 output, not {c.out_dtype}."
        return True, None

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        """Widen the FP8 weight to BF16 once (exact: every E4M3 value is a BF16 value) and hand it to
        the GEMM vLLM picks for an unquantised BF16 layer of that shape on this CPU
        (``dispatch_cpu_unquantized_gemm``: a prepacked oneDNN matmul, sgl-kernel's on AMX, or
        torch's linear where oneDNN cannot, as on AVX2), which keeps its own packed copy (torch's
        takes the BF16 weight per call instead); the layer's weight is then dropped, as vLLM drops
        an unquantised layer's. So the FP8 side multiplies with the BF16 side's own GEMM: half the
        time of ``torch.nn.functional.linear`` at decode sizes here, and oneDNN's primitive cache
        bounded per layer as on the BF16 side (torch's grew with every new prefill length). Widening
        per call cost more than the matmul itself (torch's FP8 casts are scalar on CPU)."""
        from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
        from vllm.model_executor.utils import replace_parameter

        w_name, w_s_name, _, _ = self.layer_param_names
        weight = getattr(layer, w_name)  # (K, N): a transposed view of the checkpoint's (N, K)
        gemm = torch.nn.Module()
        gemm.weight = torch.nn.Parameter(weight.t().to(torch.bfloat16).contiguous(), requires_grad=False)
        gemm.bias = None  # the bias, if any, is added after the scales
        dispatch_cpu_unquantized_gemm(gemm, remove_weight=True)
        layer.fp8_emulated_gemm = gemm.cpu_linear  # (x, weight, bias) -> x @ W8.bf16.T; a function, not a module
        # what to pass it as ``weight``: empty where the GEMM packed its own copy; W8 in BF16 where
        # vLLM fell back to torch's linear (oneDNN has no BF16 matmul on an AVX2-only CPU). A plain
        # tensor, not a parameter: the layer's parameters stay those of an FP8 layer.
        layer.fp8_emulated_weight = gemm.weight.data
        replace_parameter(layer, w_name, torch.nn.Parameter(torch.empty(0, dtype=torch.bfloat16), requires_grad=False))
        scale = getattr(layer, w_s_name)  # (N, 1) per channel, or one per tensor
        replace_parameter(layer, w_s_name, torch.nn.Parameter(scale.float().reshape(1, -1), requires_grad=False))

    def apply_weights(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Quantise ``x`` per token to FP8 (the same numbers as vLLM's ``QuantFP8``, in fewer eager
        ops: ``tests/test_cpu_fp8.py`` holds them equal), one BF16 GEMM, the scales in FP32."""
        if not isinstance(x, torch.Tensor):  # activations a fusion pass quantised already
            return super().apply_weights(layer, x, bias)
        _, w_s, _, _ = self._get_layer_params(layer)  # (1, N) scales
        x2 = x.reshape(-1, x.shape[-1]).float()
        amax = x2.abs().amax(dim=-1, keepdim=True)  # vLLM's infinity norm, the same values, ~15x faster here
        s_x = (amax / FP8_MAX).clamp_(min=MIN_SCALE)
        x8 = widen((x2 * s_x.reciprocal()).to(self.fp8_dtype))  # |x/s_x| <= FP8_MAX: no clamp
        out = layer.fp8_emulated_gemm(x8, layer.fp8_emulated_weight, None) * (s_x * w_s)
        if bias is not None:
            out = out + bias
        return out.to(self.config.out_dtype or x.dtype).view(*x.shape[:-1], out.shape[-1])

    def apply_scaled_mm(self, **_: object) -> torch.Tensor:
        raise NotImplementedError("CPUEmulatedFP8ScaledMMLinearKernel overrides apply_weights.")


# From this many values on, ``widen`` builds the BF16 bits itself: torch's FP8 -> BF16 cast is scalar
# code on CPU (~1 ns a value), five vectorised integer ops cost ~30 us plus ~0.2 ns a value (measured
# on an AMD EPYC with AVX-512: a 700-token prefill's 700 x 512 activations 699 -> 107 us).
WIDEN_BY_BITS = 8192


def widen(x8: torch.Tensor) -> torch.Tensor:
    """FP8 E4M3 values as BF16, the same bits as ``x8.to(torch.bfloat16)`` for every value but NaN
    (which becomes ±480; only a non-finite activation gives NaN, and its row's scale is then
    infinite or NaN, so that row's outputs are non-finite either way). The E4M3 exponent and
    mantissa, shifted into BF16's fields, read as a number 2^-120 times the value (subnormals too),
    which one exact multiplication restores."""
    if x8.numel() < WIDEN_BY_BITS:
        return x8.to(torch.bfloat16)
    u = x8.view(torch.int8).to(torch.int16)  # sign-extended: bit 15 carries the sign
    return ((u & 0x7F) << 4 | (u & -0x8000)).view(torch.bfloat16) * 2.0**120


def register() -> None:
    """vLLM general plugin: put the kernel in vLLM's CPU FP8 list, after its native AMX-FP8 kernels
    and before the ``torch._scaled_mm`` ones (``register_linear_kernel`` appends, so it is then
    moved up). Idempotent; does nothing off the CPU platform."""
    if not current_platform.is_cpu():
        return
    from vllm.model_executor.kernels import linear
    from vllm.platforms import PlatformEnum

    kernels = linear._POSSIBLE_FP8_KERNELS.setdefault(PlatformEnum.CPU, [])
    if CPUEmulatedFP8ScaledMMLinearKernel in kernels:
        return
    linear.register_linear_kernel(CPUEmulatedFP8ScaledMMLinearKernel, PlatformEnum.CPU, "fp8")
    kernels.remove(CPUEmulatedFP8ScaledMMLinearKernel)
    torch_kernels = [i for i, k in enumerate(kernels) if "Torch" in k.__name__]
    kernels.insert(torch_kernels[0] if torch_kernels else len(kernels), CPUEmulatedFP8ScaledMMLinearKernel)


def quantized_kernels(model: torch.nn.Module) -> dict[str, int]:
    """The linear kernel classes ``model``'s quantized layers run, counted (vLLM keeps a layer's
    kernel on its scheme: ``fp8_linear`` for FP8, ``kernel`` for the others)."""
    found: Counter[str] = Counter()
    for module in model.modules():
        method = getattr(module, "quant_method", None)
        holder = getattr(module, "scheme", None) or method
        kernel = getattr(holder, "fp8_linear", None) or getattr(holder, "kernel", None)
        if kernel is not None:
            found[type(kernel).__name__] += 1
    return dict(found)


# The op a CPU GEMM function calls (``dispatch_cpu_unquantized_gemm`` leaves a lambda on the layer
# as ``cpu_linear``; the emulated kernel keeps its own as ``fp8_emulated_gemm``), in words.
GEMMS = {
    "weight_packed_linear_cpu": "sgl-kernel weight_packed_linear",
    "onednn_mm": "oneDNN onednn_mm",
    "zentorch_linear_unary": "zentorch linear",
}
TORCH_GEMM = "torch linear"


def gemm_name(fn: object) -> str:
    """Which GEMM ``fn`` (a layer's ``cpu_linear`` or ``fp8_emulated_gemm``) runs, read from the
    names its code calls; torch's ``linear`` itself (vLLM's choice for a layer still on the meta
    device) has no Python code and is torch's."""
    names = set(getattr(getattr(fn, "__code__", None), "co_names", ()))
    return next((name for op, name in GEMMS.items() if op in names), TORCH_GEMM)


def cpu_gemms(model: torch.nn.Module) -> dict[str, int]:
    """The GEMMs ``model``'s linear layers run on the CPU platform, counted by ``gemm_name``."""
    found: Counter[str] = Counter()
    for module in model.modules():
        fn = getattr(module, "fp8_emulated_gemm", None) or getattr(module, "cpu_linear", None)
        if fn is not None:
            found[gemm_name(fn)] += 1
    return dict(found)


def sgl_gemm_runs_here() -> bool:
    """Whether this CPU can run sgl-kernel's GEMM (vLLM's CPU build has it; its kernels need AVX-512-BF16)."""
    import vllm._custom_ops  # noqa: F401  (loads vLLM's CPU ops into torch.ops._C)

    return torch.cpu._is_avx512_bf16_supported() and hasattr(torch.ops._C, "convert_weight_packed")


def choose_gemms_as_on_amx() -> None:
    """For measuring and testing the Intel AMX route on a CPU without AMX (``bench/fp8_cpu.py``'s
    ``amx-gemm`` route, ``tests/test_cpu_fp8.py``); the app never calls it. From now on, in this
    process and those it forks, vLLM's CPU GEMM dispatch chooses as on a CPU with AMX tiles
    (``check_cpu_sgl_kernel`` asks ``torch.cpu._is_amx_tile_supported`` first, then the weight's
    size and shape); nothing else sees AMX (the attention and Gated DeltaNet kernels would run AMX
    instructions)."""
    from vllm.model_executor.layers import utils

    ask = utils.check_cpu_sgl_kernel

    def as_on_amx(n: int, k: int, dtype: torch.dtype) -> bool:
        real = torch.cpu._is_amx_tile_supported
        torch.cpu._is_amx_tile_supported = lambda: True
        try:
            return bool(ask(n, k, dtype))
        finally:
            torch.cpu._is_amx_tile_supported = real

    utils.check_cpu_sgl_kernel = as_on_amx


class KernelReport:
    """vLLM worker extension (``worker_extension_cls``): what the loaded model's layers run."""

    def fp8_kernels(self) -> dict[str, int]:
        return quantized_kernels(self.model_runner.get_model())  # type: ignore[attr-defined]

    def cpu_gemms(self) -> dict[str, int]:
        return cpu_gemms(self.model_runner.get_model())  # type: ignore[attr-defined]
