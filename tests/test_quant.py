"""What vLLM runs the FP8 checkpoint with, asked of vLLM itself, and the GPU pair's chosen defaults.

Needs vLLM (its configuration and its compressed-tensors scheme choice), no engine start.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from inference.deploy.memory import CAPABILITY, fp8_in_vllm
from inference.engines.quant import vllm_scheme
from inference.spec import GPU_CHOICES, cpu_pair, gpu_pair

pytestmark = pytest.mark.engine  # imports vLLM


@pytest.fixture(scope="module")
def configs(tiny_dir):
    from vllm import AsyncEngineArgs

    saved = dict(os.environ)  # vLLM's CPU platform sets variables while it makes a config
    try:
        return {
            s.label: AsyncEngineArgs(model=s.model, **s.engine_args).create_engine_config() for s in cpu_pair(tiny_dir)
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_tiny_fp8_checkpoint_runs_as_w8a8_fp8_here_and_bf16_is_unquantized(configs):
    assert vllm_scheme(configs["FP8"]) == "W8A8 FP8"
    assert vllm_scheme(configs["BF16"]) is None


@pytest.mark.parametrize(
    ("capability", "scheme"),
    [((8, 0), "weight-only FP8 (BF16 activations)"), ((8, 9), "W8A8 FP8"), ((9, 0), "W8A8 FP8"), ((12, 0), "W8A8 FP8")],
    ids=["a100", "l40s", "h100", "blackwell"],
)
def test_the_scheme_follows_the_gpus_compute_capability_as_vllm_decides(configs, monkeypatch, capability, scheme):
    from vllm.platforms import current_platform
    from vllm.platforms.interface import DeviceCapability

    monkeypatch.setattr(current_platform, "get_device_capability", lambda device_id=0: DeviceCapability(*capability))
    assert vllm_scheme(configs["FP8"]) == scheme


def test_the_gpu_pair_sets_prefix_caching_batched_tokens_and_processor_cache_itself():
    from vllm import AsyncEngineArgs

    known = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    assert set(GPU_CHOICES) <= known  # each is an engine argument vLLM 0.32 has, spelled as it spells it
    for spec in gpu_pair():
        assert {k: spec.engine_args[k] for k in GPU_CHOICES} == GPU_CHOICES
        args = AsyncEngineArgs(model=spec.model, **spec.engine_args)
        assert args.enable_prefix_caching is False and args.max_num_batched_tokens == 8192
        assert args.mm_processor_cache_gb == 2


@pytest.mark.parametrize("gpu", list(CAPABILITY))
def test_the_readme_gpu_tables_fp8_column_is_what_vllm_decides_for_that_gpu(configs, monkeypatch, gpu):
    from vllm.platforms import current_platform
    from vllm.platforms.interface import DeviceCapability

    monkeypatch.setattr(
        current_platform, "get_device_capability", lambda device_id=0: DeviceCapability(*CAPABILITY[gpu])
    )
    assert fp8_in_vllm(gpu) == vllm_scheme(configs["FP8"])
