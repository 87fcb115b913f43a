"""Is there a CUDA GPU, and how much of it does each side get? For the command lines.

Contract: ``has_cuda_gpu()`` asks ``nvidia-smi`` (no torch import). ``plan_gpu_memory(specs)``
gives each spec the ``gpu_memory_utilization`` and ``max_model_len`` of the memory plan for this
GPU (``inference/deploy/memory.py``), keeps the specs as they are when the GPU or the checkpoints'
headers cannot be read, and exits the program with the plan's message when the engines do not
fit (it is called by ``app.py`` and ``inference/evaluation/evaluate.py`` before anything starts).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import replace

from inference.spec import ModelSpec

log = logging.getLogger(__name__)


def has_cuda_gpu() -> bool:
    """A cheap probe (no torch import): does ``nvidia-smi`` list a GPU?"""
    if not shutil.which("nvidia-smi"):
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def plan_gpu_memory(specs: list[ModelSpec]) -> list[ModelSpec]:
    """Each spec's ``gpu_memory_utilization`` and ``max_model_len`` from this GPU's memory plan."""
    from inference.deploy import memory

    query = ["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"]
    try:
        gpu = memory.parse_nvidia_smi(subprocess.run(query, capture_output=True, text=True, timeout=10).stdout)
        sides = [memory.gpu_needs(s.label, s.model, *memory.read_checkpoint(s.model)) for s in specs]
    except Exception as e:  # no plan rather than no app: vLLM still checks memory itself
        log.warning("GPU memory plan skipped (%s); keeping gpu_memory_utilization as configured", e)
        return specs
    plan = memory.plan_memory(sides, gpu, specs[0].engine_args.get("max_model_len", memory.DEFAULT_MAX_MODEL_LEN))
    log.info("GPU memory plan: %s", plan.message)
    host = memory.host_cache_bytes(s.engine_args for s in specs)
    log.info(
        "Host RAM: the engines' multimodal processor caches hold %s (each twice: front end and core)",
        memory.as_gib(host),
    )
    if not plan.fits:
        sys.exit(plan.message)
    planned = []
    for spec, side in zip(specs, plan.sides, strict=True):
        args = {"gpu_memory_utilization": side.gpu_memory_utilization, "max_model_len": side.max_model_len}
        planned.append(replace(spec, engine_args={**spec.engine_args, **args}))
    return planned
