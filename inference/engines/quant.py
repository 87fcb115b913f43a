"""Which quantization scheme vLLM runs a checkpoint with on this machine, in words for the page.

Contract: ``vllm_scheme(vllm_config)`` asks vLLM's own compressed-tensors config, with the engine's
configuration, which scheme class it picks for each of the checkpoint's quantization groups on
the current platform (the same call its model loader makes per layer), and names it:
``W8A8 FP8`` where FP8 matmuls run (CPU, and CUDA GPUs of compute capability 8.9 or more: L4,
L40S, H100, H200, Blackwell), ``weight-only FP8`` where vLLM falls back to FP8 weights with BF16
activations (e.g. an A100, 8.0). ``None`` for a checkpoint that is not quantized. Imports vLLM:
call it where vLLM is already loaded.
"""

from __future__ import annotations

from typing import Any

SCHEMES = {  # vLLM's scheme classes, as the page names them
    "CompressedTensorsW8A8Fp8": "W8A8 FP8",
    "CompressedTensorsW8A16Fp8": "weight-only FP8 (BF16 activations)",
}
NO_FP8_MATMULS = "weight-only FP8 (BF16 activations)"


def vllm_scheme(vllm_config: Any) -> str | None:
    """The scheme(s) vLLM runs this engine's quantized layers with; ``None`` if unquantized."""
    quant = getattr(vllm_config, "quant_config", None)
    if quant is None:
        return None
    groups = getattr(quant, "target_scheme_map", None)
    if groups is None:  # another quantization method (not compressed-tensors): its own name
        return str(quant.get_name())
    from vllm.config import set_current_vllm_config

    names = []
    with set_current_vllm_config(vllm_config):  # the scheme classes read the model's dtype from it
        for group in groups.values():
            if group.get("weights") is None:
                continue
            # the call ``CompressedTensorsConfig.get_scheme`` makes for each matching layer
            scheme = quant._get_scheme_from_parts(
                weight_quant=group["weights"],
                input_quant=group.get("input_activations"),
                output_quant=group.get("output_activations"),
                format=group.get("format"),
            )
            name = type(scheme).__name__
            names.append(SCHEMES.get(name, name))
    return ", ".join(sorted(set(names))) or None


# The linear kernels vLLM 0.32 may pick for an FP8 layer, by class name: how the page says what runs,
# and whether its FP8 speed is that of a native FP8 matmul. On the CPU platform only vLLM's
# AMX-FP8 kernel is native; ``torch._scaled_mm`` there is oneDNN's reference matmul (CPUs with AMX)
# or ATen's FP32 fallback (inference/deploy/cpu.py), and the project's own kernel emulates in BF16.
CPU_NATIVE = {"CPUFP8W8A8ScaledMMLinearKernel": "native AMX-FP8 matmuls"}
CPU_ROUTES = {
    "CPUEmulatedFP8ScaledMMLinearKernel": (
        "W8A8 emulated in BF16 on this CPU: per-token FP8 activations, FP8 weight values held in BF16"
    ),
    "ChannelWiseTorchFP8ScaledMMLinearKernel": "torch._scaled_mm, emulated by torch on this CPU",
    "PerTensorTorchFP8ScaledMMLinearKernel": "torch._scaled_mm, emulated by torch on this CPU",
    "CPUFp8PerTensorScaledMMLinearKernel": "FP8 weights, BF16 activations (AMX)",
}
GPU_FALLBACKS = {  # CUDA kernels that do not multiply in FP8: the weights are widened first
    "MarlinFP8ScaledMMLinearKernel": "weight-only (Marlin)",
    "HummingFP8ScaledMMLinearKernel": "weight-only (Humming)",
}


def kernel_route(kernels: dict[str, int], cpu: bool) -> tuple[str | None, str | None, bool]:
    """From the kernels the engine's layers run (``cpu_fp8.KernelReport``), counted: the kernel
    names as the page shows them, the route in words, and whether FP8's speed there is emulated
    (not that of native FP8 matmuls). ``(None, None, False)`` for an unquantized model."""
    if not kernels:
        return None, None, False
    names = ", ".join(sorted(kernels))
    words, emulated = [], False
    for name in sorted(kernels):
        if cpu:
            native = CPU_NATIVE.get(name)
            words.append(native or CPU_ROUTES.get(name, f"{name} on this CPU"))
            emulated = emulated or native is None
        elif name in GPU_FALLBACKS:
            words.append(GPU_FALLBACKS[name])
            emulated = True
        else:
            words.append("native FP8 matmuls")
    return names, "; ".join(dict.fromkeys(words)), emulated
