"""The CPU FP8 route (inference/engines/cpu_fp8.py): where vLLM picks it, that it quantises exactly as
vLLM's W8A8 does, how far it is from vLLM's own ``torch._scaled_mm`` route, and that the real tiny FP8
engine runs it in every quantized layer and says so. Needs vLLM (no engine start except the last test).
"""

from __future__ import annotations

import pytest
import torch

from inference.engines.quant import kernel_route

pytestmark = pytest.mark.engine  # imports vLLM


@pytest.fixture(scope="module")
def vllm_config():
    from vllm.config import VllmConfig, set_current_vllm_config

    with set_current_vllm_config(VllmConfig()):
        yield


def _layer_config(n: int, k: int):
    from vllm.model_executor.kernels.linear.scaled_mm.ScaledMMLinearKernel import FP8ScaledMMLinearLayerConfig
    from vllm.model_executor.layers.quantization.utils.quant_utils import kFp8DynamicTokenSym, kFp8StaticChannelSym

    return FP8ScaledMMLinearLayerConfig(
        weight_quant_key=kFp8StaticChannelSym,
        activation_quant_key=kFp8DynamicTokenSym,
        input_dtype=torch.bfloat16,
        out_dtype=torch.bfloat16,
        weight_shape=(n, k),
    )


def test_vllm_picks_the_emulated_kernel_for_fp8_dynamic_after_its_native_cpu_kernels(vllm_config, monkeypatch):
    from vllm.model_executor.kernels import linear
    from vllm.platforms import PlatformEnum

    from inference.engines.cpu_fp8 import CPUEmulatedFP8ScaledMMLinearKernel, register

    register()
    register()  # idempotent
    names = [k.__name__ for k in linear._POSSIBLE_FP8_KERNELS[PlatformEnum.CPU]]
    assert names.count("CPUEmulatedFP8ScaledMMLinearKernel") == 1
    ours = names.index("CPUEmulatedFP8ScaledMMLinearKernel")
    assert ours > names.index("CPUFP8W8A8ScaledMMLinearKernel")  # vLLM's AMX-FP8 kernel stays first
    assert all(ours < i for i, n in enumerate(names) if "Torch" in n)
    chosen = linear.choose_scaled_mm_linear_kernel(
        _layer_config(256, 128), linear._POSSIBLE_FP8_KERNELS, quantization="fp8_w8a8"
    )
    if chosen.__name__ != "CPUFP8W8A8ScaledMMLinearKernel":  # a CPU with AMX-FP8 keeps vLLM's native one
        assert chosen is CPUEmulatedFP8ScaledMMLinearKernel
    monkeypatch.setenv("VLLM_DISABLED_KERNELS", "CPUEmulatedFP8ScaledMMLinearKernel")  # vLLM's own switch
    off = linear.choose_scaled_mm_linear_kernel(
        _layer_config(256, 128), linear._POSSIBLE_FP8_KERNELS, quantization="fp8_w8a8"
    )
    assert off is not CPUEmulatedFP8ScaledMMLinearKernel


def _fp8_layer(n: int, k: int, seed: int):
    """A layer as vLLM holds an FP8_DYNAMIC linear after loading: (K, N) FP8 weight view, (N, 1) scales."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g) * 0.05
    scale = w.abs().amax(dim=1, keepdim=True) / 448.0
    layer = torch.nn.Module()
    layer.weight = torch.nn.Parameter((w / scale).to(torch.float8_e4m3fn).t(), requires_grad=False)
    layer.weight_scale = torch.nn.Parameter(scale, requires_grad=False)
    layer.input_scale = None
    return layer


def test_widening_fp8_to_bf16_gives_the_casts_bits_for_every_value_but_nan():
    from inference.engines.cpu_fp8 import WIDEN_BY_BITS, widen

    every = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn)  # zeros, subnormals, normals, NaN
    many = every.repeat(WIDEN_BY_BITS // 256 + 1)  # enough for the bit-level route
    for x8 in (every, many):
        cast, ours = x8.to(torch.bfloat16), widen(x8)
        nan = cast.isnan()
        assert nan.sum() == 2 * len(x8) // 256  # 0x7f and 0xff
        assert torch.equal(ours[~nan].view(torch.int16), cast[~nan].view(torch.int16))
    assert widen(many)[many.to(torch.bfloat16).isnan()].abs().eq(480).all()  # the bit route's NaN (``widen``)


@pytest.mark.parametrize("gemm", ["this CPU's", "AMX's", "torch's"])
@pytest.mark.parametrize(("m", "n", "k"), [(1, 256, 128), (7, 128, 256), (64, 512, 128), (700, 256, 128)])
def test_the_emulated_kernel_is_w8a8_with_vllms_own_per_token_quantisation(vllm_config, monkeypatch, m, n, k, gemm):
    """``gemm``: the GEMM vLLM picks on this CPU, the one it picks on a CPU with AMX tiles
    (sgl-kernel's ``weight_packed_linear`` for these small weights; run here where this CPU has
    AVX-512-BF16, which that kernel then computes with: the Intel AMX route's code, not its speed),
    or its fallback to torch's linear where oneDNN cannot make a BF16 matmul (an AVX2-only CPU:
    there the GEMM keeps no copy of the weight and takes it per call)."""
    from vllm.model_executor.kernels.linear.scaled_mm.pytorch import ChannelWiseTorchFP8ScaledMMLinearKernel
    from vllm.model_executor.layers import utils
    from vllm.model_executor.layers.quantization.input_quant_fp8 import QuantFP8
    from vllm.model_executor.layers.quantization.utils.quant_utils import GroupShape
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    from inference.engines.cpu_fp8 import (
        TORCH_GEMM,
        CPUEmulatedFP8ScaledMMLinearKernel,
        choose_gemms_as_on_amx,
        gemm_name,
        sgl_gemm_runs_here,
    )

    if gemm == "AMX's":
        if not sgl_gemm_runs_here():
            pytest.skip("sgl-kernel's GEMM needs AVX-512-BF16 and vLLM's CPU ops")
        monkeypatch.setattr(utils, "check_cpu_sgl_kernel", utils.check_cpu_sgl_kernel)  # restored after the test
        choose_gemms_as_on_amx()
    if gemm == "torch's":
        from vllm import _custom_ops

        monkeypatch.setattr(utils, "check_cpu_sgl_kernel", lambda *_: False)
        monkeypatch.setattr(_custom_ops, "_supports_onednn", False)
        monkeypatch.setattr(utils.current_platform, "is_zen_cpu", lambda: False)

    names = ["weight", "weight_scale", "input_scale", "input_scale_ub"]
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)).to(torch.bfloat16) * 3
    w8, s_w = _fp8_layer(n, k, seed=n).weight.t(), _fp8_layer(n, k, seed=n).weight_scale
    # the W8A8 numbers in float64: vLLM's per-token FP8 activations times the FP8 weights, scaled
    x8, s_x = QuantFP8(False, GroupShape.PER_TOKEN).forward_native(x)
    exact = (x8.double() @ w8.double().t()) * s_x.double() * s_w.double().t()

    ours_layer, torch_layer = _fp8_layer(n, k, seed=n), _fp8_layer(n, k, seed=n)
    ours = CPUEmulatedFP8ScaledMMLinearKernel(_layer_config(n, k), names)
    ours.process_weights_after_loading(ours_layer)
    y = ours.apply_weights(ours_layer, x)
    # the FP8 values, held in BF16 exactly, go through the GEMM vLLM runs for an unquantised BF16
    # layer of this shape on this CPU: the same product to the bit, before the scales
    bf16 = torch.nn.Module()
    bf16.weight, bf16.bias = torch.nn.Parameter(w8.to(torch.bfloat16), requires_grad=False), None
    dispatch_cpu_unquantized_gemm(bf16, remove_weight=True)
    product = bf16.cpu_linear(x8.to(torch.bfloat16), bf16.weight, None)
    assert torch.equal(y, (product * (s_x * s_w.t())).to(torch.bfloat16))
    assert gemm_name(ours_layer.fp8_emulated_gemm) == gemm_name(bf16.cpu_linear)
    if gemm == "AMX's":
        assert gemm_name(bf16.cpu_linear) == "sgl-kernel weight_packed_linear"
    if gemm == "torch's":
        assert gemm_name(bf16.cpu_linear) == TORCH_GEMM
    assert ours_layer.weight.numel() == 0  # dropped, as vLLM drops an unquantised layer's: the GEMM holds it
    reference = ChannelWiseTorchFP8ScaledMMLinearKernel(_layer_config(n, k), names).apply_weights(torch_layer, x)

    assert y.shape == reference.shape == (m, n) and y.dtype == torch.bfloat16
    # both round the exact W8A8 result to BF16 (ours once more, before the scales): within 2 BF16 ulps
    tolerance = 2 * 2.0**-8 * exact.abs() + 1e-6
    assert ((y.double() - exact).abs() <= tolerance).all()
    assert ((reference.double() - exact).abs() <= tolerance).all()


def test_a_gemm_is_named_by_the_op_its_function_calls(vllm_config):
    from vllm import _custom_ops as ops
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    from inference.engines.cpu_fp8 import GEMMS, TORCH_GEMM, gemm_name

    assert gemm_name(torch.nn.functional.linear) == TORCH_GEMM  # vLLM's choice for a layer on the meta device
    assert gemm_name(lambda x, weight, bias: ops.onednn_mm(None, x, bias)) == "oneDNN onednn_mm"
    assert (
        gemm_name(lambda x, weight, bias: ops.weight_packed_linear_cpu(x, weight, 8, bias))
        == GEMMS["weight_packed_linear_cpu"]
    )
    layer = torch.nn.Module()
    layer.weight = torch.nn.Parameter(torch.zeros(256, 128, dtype=torch.bfloat16), requires_grad=False)
    dispatch_cpu_unquantized_gemm(layer, remove_weight=False)
    assert gemm_name(layer.cpu_linear) in {*GEMMS.values(), TORCH_GEMM}


def test_the_route_in_words_says_when_fp8_speed_is_emulated():
    assert kernel_route({}, cpu=True) == (None, None, False)
    kernel, words, emulated = kernel_route({"CPUEmulatedFP8ScaledMMLinearKernel": 10}, cpu=True)
    assert kernel == "CPUEmulatedFP8ScaledMMLinearKernel" and "emulated in BF16" in words and emulated
    assert kernel_route({"CPUFP8W8A8ScaledMMLinearKernel": 10}, cpu=True)[2] is False  # AMX-FP8: native
    assert kernel_route({"ChannelWiseTorchFP8ScaledMMLinearKernel": 3}, cpu=True)[2] is True
    assert kernel_route({"CutlassFP8ScaledMMLinearKernel": 3}, cpu=False) == (
        "CutlassFP8ScaledMMLinearKernel",
        "native FP8 matmuls",
        False,
    )
    assert kernel_route({"MarlinFP8ScaledMMLinearKernel": 3}, cpu=False)[1:] == ("weight-only (Marlin)", True)
