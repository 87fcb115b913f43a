"""What this CPU is, in the terms that decide the FP8 route: model name, the instruction sets that
matter (AMX, AVX-512 with BF16, AVX2), and where torch sends an FP8 ``_scaled_mm``.

Contract: ``cpu_facts()`` reads ``/proc/cpuinfo`` (and torch's version from package metadata) and
returns plain strings; it imports neither torch nor vLLM. torch 2.13's CPU ``_scaled_mm``
(aten/src/ATen/native/mkldnn/Matmul.cpp) goes to oneDNN when mkldnn is enabled and cpuinfo reports
AMX-INT8 (oneDNN's FP8 matmul there is its reference implementation, unless the CPU has AMX-FP8),
and otherwise to ATen's fallback that widens both operands to FP32 and multiplies them in FP32.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "unknown CPU", set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def isa_summary(flags: set[str]) -> str:
    """The instruction sets that decide the matmul kernels, strongest first."""
    if "amx_fp8" in flags:
        return "AMX-FP8"
    if "amx_bf16" in flags or "amx_int8" in flags:
        return "AMX-BF16/INT8, AVX-512" + (" FP16" if "avx512_fp16" in flags else "")
    if "avx512_bf16" in flags:
        return "AVX-512 with BF16"
    if "avx512f" in flags:
        return "AVX-512 (no BF16)"
    if "avx2" in flags:
        return "AVX2 (no AVX-512)"
    return "no AVX2"


def scaled_mm_route(flags: set[str]) -> str:
    """Where torch 2.13 runs an FP8 ``_scaled_mm`` on this CPU (see the module's contract)."""
    if "amx_int8" in flags:
        return "oneDNN (AMX present: its FP8 matmul is the reference implementation without AMX-FP8)"
    return "ATen's FP32 fallback (no AMX)"


def cpu_facts() -> dict[str, str]:
    model, flags = _cpuinfo()
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "not installed"
    return {"model": model, "isa": isa_summary(flags), "torch": torch, "scaled_mm": scaled_mm_route(flags)}


# Run in a fresh interpreter with ONEDNN_VERBOSE=1: a decode-sized BF16 matmul (the BF16 side's
# linear layers, and the emulated FP8 route's) and the FP8 ``_scaled_mm`` vLLM's torch route calls.
_PROBE = """
import torch
torch.set_num_threads(1)
x = torch.randn(1, 128).to(torch.bfloat16); w = torch.randn(512, 128).to(torch.bfloat16)
print("PROBE bf16", flush=True); torch.nn.functional.linear(x, w)
a = x.float().to(torch.float8_e4m3fn); b = w.float().to(torch.float8_e4m3fn).t(); one = torch.ones(1)
print("PROBE fp8", flush=True); torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.float32)
print("PROBE end", flush=True)
"""


def onednn_matmuls(python: str) -> dict[str, str]:
    """Which oneDNN implementation runs a decode-sized BF16 matmul and an FP8 ``_scaled_mm`` under
    ``python`` (an interpreter with torch), read from oneDNN's own verbose log; "not oneDNN" where torch
    ran it itself instead (its own BF16 GEMM, or its FP32 fallback for FP8)."""
    import os
    import subprocess

    env = {**os.environ, "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([python, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120, check=False)
    found: dict[str, str] = {}
    current = None
    for line in out.stdout.splitlines():
        if line.startswith("PROBE "):
            current = line.split()[1]
            found.setdefault(current, {"bf16": "ATen's own GEMM", "fp8": "ATen's FP32 fallback"}.get(current, ""))
        elif current in found and (",exec,cpu,matmul," in line or ",exec,cpu,inner_product," in line):
            parts = line.split(",")
            kind = "matmul" if "matmul" in parts else "inner_product"
            found[current] = f"oneDNN {kind} {parts[parts.index(kind) + 1]}"
    found.pop("end", None)
    return found or {"bf16": f"probe failed: {out.stderr.strip()[-200:]}", "fp8": "probe failed"}
