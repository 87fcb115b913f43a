"""The quantisation map and the batch-1 ceiling (``inference.evaluation.quantmap``): crafted
headers with known bytes, and the tiny pair's own headers (read directly, no torch, no engine)."""

from __future__ import annotations

import pytest

from inference.evaluation.quantmap import ceiling, quant_map, read_map

CONFIG = {"text_config": {"hidden_size": 4}, "tie_word_embeddings": False}


def t(dtype: str, *shape: int) -> dict:
    return {"dtype": dtype, "shape": list(shape)}


def test_decode_step_reads_every_language_model_weight_once_one_embedding_row_and_no_vision():
    header = {
        "__metadata__": {"format": "pt"},
        "model.language_model.embed_tokens.weight": t("BF16", 100, 4),  # one row: 4 × 2 bytes
        "model.language_model.layers.0.mlp.up_proj.weight": t("F8_E4M3", 8, 4),  # 32 bytes
        "model.language_model.layers.0.mlp.up_proj.weight_scale": t("BF16", 8, 1),  # 16 bytes
        "model.language_model.layers.0.linear_attn.in_proj_qkv.weight": t("BF16", 12, 4),  # 96 bytes
        "model.language_model.norm.weight": t("BF16", 4),  # 8 bytes
        "lm_head.weight": t("BF16", 100, 4),  # 800 bytes
        "model.visual.blocks.0.attn.qkv.weight": t("BF16", 12, 4),  # never read while decoding
        "mtp.layers.0.mlp.up_proj.weight": t("BF16", 8, 4),  # not loaded at all
    }
    m = quant_map([header], CONFIG)
    assert m["decode_step_bytes"] == 8 + 32 + 16 + 96 + 8 + 800
    groups = {g["group"]: g for g in m["groups"]}
    assert groups["MLP"]["fp8_share"] == 1.0 and groups["MLP"]["params"] == 32 and groups["MLP"]["bytes"] == 48
    assert groups["Gated DeltaNet (linear attention)"]["fp8_share"] == 0.0
    assert groups["vision tower"]["bytes"] == 96 and "mtp" not in str(groups)
    assert m["fp8_share_of_language_model"] == pytest.approx(32 / (400 + 32 + 48 + 4 + 400))
    tied = quant_map(
        [{k: v for k, v in header.items() if k != "lm_head.weight"}], {**CONFIG, "tie_word_embeddings": True}
    )
    assert tied["decode_step_bytes"] == 800 + 32 + 16 + 96 + 8  # a tied table is read whole, as lm_head


def test_ceiling_is_the_reference_bytes_per_step_over_the_side_bytes():
    assert ceiling([{"decode_step_bytes": 600}, {"decode_step_bytes": 1000}], 1) == [pytest.approx(1000 / 600), 1.0]
    assert ceiling([None, {"decode_step_bytes": 1000}], 1) == [None, 1.0]


def test_the_tiny_pair_keeps_lm_head_vision_and_gated_deltanet_in_bf16_so_its_ceiling_is_far_below_2x(tiny_dir):
    fp8, bf16 = read_map(str(tiny_dir / "fp8")), read_map(str(tiny_dir / "bf16"))
    groups = {g["group"]: g["fp8_share"] for g in fp8["groups"]}
    assert groups["MLP"] == 1.0 and groups["full attention"] > 0.99
    assert groups["lm_head"] == groups["vision tower"] == groups["Gated DeltaNet (linear attention)"] == 0.0
    assert all(g["fp8_share"] == 0.0 for g in bf16["groups"])
    assert fp8["state_bytes"] == bf16["state_bytes"] > 0
    (speedup, one) = ceiling([fp8, bf16], 1)
    assert one == 1.0 and 1.0 < speedup < 2.0
    assert read_map(str(tiny_dir / "missing")) is None
