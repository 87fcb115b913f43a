"""How the transformers backend loads a checkpoint: ``from_pretrained``'s options and the scheme it runs.

Contract: ``load_options(model, dtype, device)`` gives the keyword arguments for
``AutoModelForImageTextToText.from_pretrained`` (``dtype``: the spec's, ``"auto"`` or a torch
dtype's name) and the quantization scheme in the page's words (``None``: not quantized). FP8
compressed-tensors checkpoints: on CUDA (SM 8.9+) the FP8 weights stay FP8 and run through
transformers' FP8 matmul (``use_optimized_inference``: ``_scaled_mm_rowwise``, a row-wise scaled
``torch.nn.functional.scaled_mm``) *when that call works on this GPU*: ``rowwise_fp8_error`` runs
it once on a small matrix first, because pytorch#192707 reports it failing on SM 12.0 (the RTX PRO
6000 of ZeroGPU) with ``CUBLAS_STATUS_NOT_SUPPORTED``. Where it fails, and off CUDA, the weights
are dequantized to BF16 at load while the dynamic per-token FP8 activation quantization is still
simulated (compressed-tensors' quantize-dequantize), and the scheme says so and why: the page never
claims FP8 matmuls that do not run, and the app never crashes on the first turn. On a ZeroGPU
Space (``probe=False``) no CUDA call can run at load (``spaces`` fakes the device and reports the
capability of its GPU table), so the rule stands in for the probe: FP8 matmuls below SM 12.0 (the
H200), dequantized on SM 12.0 and up (the RTX PRO 6000), saying why. Torch and transformers are
imported when called.
"""

from __future__ import annotations

from typing import Any

FP8_KERNEL_FROM = (8, 9)  # transformers' own bar (quantizer_compressed_tensors.py: has_fp8_kernel)
W8A8 = "W8A8 FP8"
SIMULATED = "FP8 weights dequantized to BF16, FP8 activations simulated"
UNTRUSTED_FROM = (12, 0)  # pytorch#192707: row-wise FP8 scaled_mm -> CUBLAS_STATUS_NOT_SUPPORTED on sm_120
NOT_PROBED = "not tried on ZeroGPU: row-wise FP8 scaled_mm fails on SM 12.0 (pytorch#192707)"


def is_compressed_tensors(model: str) -> bool:
    """Whether a checkpoint is quantized in compressed-tensors' format (llm-compressor's FP8)."""
    from transformers import AutoConfig

    quant = getattr(AutoConfig.from_pretrained(model), "quantization_config", None) or {}
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    return method == "compressed-tensors"


def rowwise_fp8_error(device: str, m: int = 16, k: int = 64, n: int = 32) -> str | None:
    """Run transformers' own row-wise FP8 matmul (the one its FP8 linear layer calls) once on
    ``device``; ``None`` when it ran and matches the dequantized product, else what went wrong."""
    import torch
    from transformers.integrations.compressed_tensors import _scaled_mm_rowwise, quantize_fp8_per_row

    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(m, k, generator=gen).to(device=device, dtype=torch.bfloat16)
        w = torch.randn(n, k, generator=gen).to(device=device, dtype=torch.bfloat16)
        xq, xs = quantize_fp8_per_row(x)
        wq, ws = quantize_fp8_per_row(w)
        out = _scaled_mm_rowwise(xq, wq.t(), scale_a=xs.unsqueeze(-1), scale_b=ws.unsqueeze(0), out_dtype=x.dtype)
        want = (xq.float() * xs[:, None]) @ (wq.float() * ws[:, None]).t()
        worst = float((out.float() - want).abs().max())
    except Exception as err:  # cuBLAS refusing the call is a RuntimeError; say it, whatever it is
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}".rstrip(": ")
    bound = 0.02 * float(want.abs().max()) + 1e-3  # bf16 output rounding, far below a wrong kernel
    return None if worst <= bound else f"wrong result: max error {worst:.3g} > {bound:.3g}"


def load_options(model: str, dtype: str, device: str, probe: bool = True) -> tuple[dict[str, Any], str | None]:
    """``from_pretrained``'s options for ``model`` on ``device`` ("cuda" or "cpu"), and the scheme it
    will run; ``probe``: try the FP8 matmul on the device (False on ZeroGPU: the capability rule)."""
    import torch
    from transformers import CompressedTensorsConfig

    options: dict[str, Any] = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    scheme = None
    if is_compressed_tensors(model):  # keep FP8 where kernels exist and work, else dequantize at load
        capability = torch.cuda.get_device_capability() if device == "cuda" else (0, 0)
        fp8, why = capability >= FP8_KERNEL_FROM, ""
        if fp8 and probe and (failed := rowwise_fp8_error(device)):
            fp8, why = False, f" (this GPU's FP8 matmul failed: {failed})"
        elif fp8 and not probe and capability >= UNTRUSTED_FROM:
            fp8, why = False, f" ({NOT_PROBED})"
        options["quantization_config"] = CompressedTensorsConfig(use_optimized_inference=fp8, dequantize=not fp8)
        scheme = W8A8 if fp8 else SIMULATED + why
    return options, scheme
