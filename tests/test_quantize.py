"""The model card's FP8_DYNAMIC recipe, read back from the tiny FP8 checkpoint's safetensors."""

from __future__ import annotations

import json
import re

from safetensors import safe_open


def _dtypes(path) -> dict[str, str]:
    with safe_open(str(path / "model.safetensors"), framework="np") as f:
        return {k: f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118


def _shapes(path) -> dict[str, list[int]]:
    with safe_open(str(path / "model.safetensors"), framework="np") as f:
        return {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118


def test_mlp_and_full_attention_linears_are_fp8_with_per_channel_scales(tiny_dir):
    dtypes, shapes = _dtypes(tiny_dir / "fp8"), _shapes(tiny_dir / "fp8")
    quantised = [k for k in dtypes if re.search(r"\.(mlp|self_attn)\.\w+_proj\.weight$", k)]
    assert any(".mlp." in k for k in quantised) and any(".self_attn." in k for k in quantised)
    for key in quantised:
        assert dtypes[key] == "F8_E4M3", key
        scale = key + "_scale"
        assert dtypes[scale] == "BF16"
        assert shapes[scale] == [shapes[key][0], 1], f"{scale}: one scale per output channel"


def test_lm_head_vision_and_gated_deltanet_stay_bf16(tiny_dir):
    dtypes = _dtypes(tiny_dir / "fp8")
    kept = [k for k in dtypes if k.startswith("lm_head") or ".visual." in k or ".linear_attn." in k]
    assert any(".visual." in k for k in kept) and any(".linear_attn." in k for k in kept)
    assert "lm_head.weight" in kept
    assert {dtypes[k] for k in kept} == {"BF16"}
    assert not any(k.endswith("weight_scale") for k in kept)


def test_config_declares_dynamic_per_token_activations(tiny_dir):
    config = json.loads((tiny_dir / "fp8" / "config.json").read_text())
    q = config["quantization_config"]
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "float-quantized"
    group = q["config_groups"]["group_0"]
    assert group["weights"]["strategy"] == "channel" and group["weights"]["num_bits"] == 8
    assert group["input_activations"]["dynamic"] is True and group["input_activations"]["strategy"] == "token"
    assert "lm_head" in q["ignore"]


def test_bf16_source_is_unquantised(tiny_dir):
    assert set(_dtypes(tiny_dir / "bf16").values()) == {"BF16"}
