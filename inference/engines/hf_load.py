"""How the transformers backend loads a checkpoint: ``from_pretrained``'s options and the scheme it runs.

Contract: ``load_options(model, dtype, device)`` gives the keyword arguments for
``AutoModelForImageTextToText.from_pretrained`` (``dtype``: the spec's, ``"auto"`` or a torch
dtype's name) and the quantization scheme in the page's words (``None``: not quantized). FP8
compressed-tensors checkpoints: on CUDA (SM 8.9+) the FP8 weights stay FP8 and run through
transformers' FP8 matmul kernels (``use_optimized_inference``); elsewhere they are dequantized to
BF16 at load while the dynamic per-token FP8 activation quantization is still simulated
(compressed-tensors' quantize-dequantize). Torch and transformers are imported when called.
"""

from __future__ import annotations

from typing import Any


def is_compressed_tensors(model: str) -> bool:
    """Whether a checkpoint is quantized in compressed-tensors' format (llm-compressor's FP8)."""
    from transformers import AutoConfig

    quant = getattr(AutoConfig.from_pretrained(model), "quantization_config", None) or {}
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    return method == "compressed-tensors"


def load_options(model: str, dtype: str, device: str) -> tuple[dict[str, Any], str | None]:
    """``from_pretrained``'s options for ``model`` on ``device`` ("cuda" or "cpu"), and the scheme it will run."""
    import torch
    from transformers import CompressedTensorsConfig

    options: dict[str, Any] = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    scheme = None
    if is_compressed_tensors(model):  # keep FP8 where kernels exist, else dequantize at load
        fp8 = device == "cuda" and torch.cuda.get_device_capability() >= (8, 9)
        options["quantization_config"] = CompressedTensorsConfig(use_optimized_inference=fp8, dequantize=not fp8)
        scheme = "W8A8 FP8" if fp8 else "FP8 weights dequantized to BF16, FP8 activations simulated"
    return options, scheme
