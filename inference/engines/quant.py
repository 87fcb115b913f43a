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
        return quant.get_name()
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
