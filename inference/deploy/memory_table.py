"""The GPU memory table of docs/deployment.md: the 9B pair's plan on common GPUs, from its config alone.

Contract: ``estimate_header`` gives the tensors a Qwen3.5 checkpoint holds (names, dtypes,
shapes) from its config, for where the 9B's files are not at hand; ``reference_needs`` is
the 9B pair by the project's FP8 recipe; ``markdown_table`` is docs/deployment.md's table. Pure; the
plan itself is ``inference.deploy.memory``.

    python -m inference.deploy.memory_table --table   # docs/deployment.md's table
    python -m inference.deploy.memory_table           # each GPU's plan, in words
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inference.deploy.headers import head_dim, layer_types, text_config
from inference.deploy.memory import (
    ENGINE_OVERHEAD_BYTES,
    GPUS,
    Gpu,
    GpuNeeds,
    MiB,
    as_gib,
    fp8_in_vllm,
    gpu_needs,
    host_cache_bytes,
    plan_memory,
)
from inference.spec import GPU_CHOICES


def estimate_header(config: Mapping[str, Any], fp8: bool = False) -> dict[str, dict[str, Any]]:
    """The tensors a Qwen3.5 checkpoint holds, from its config alone (names, BF16 shapes); ``fp8``:
    the project's recipe (F8_E4M3 weights with a BF16 scale per output channel in ``mlp.*`` and
    full-attention ``self_attn.*``, no MTP head). For the table, where the 9B's files are not here."""
    t, v = text_config(config), config["vision_config"]
    h, inter = t["hidden_size"], t["intermediate_size"]
    nk, nv = t["linear_num_key_heads"], t["linear_num_value_heads"]
    dk, dv = t["linear_key_head_dim"], t["linear_value_head_dim"]
    hd, heads, kv = head_dim(config), t["num_attention_heads"], t["num_key_value_heads"]
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, *shape: int, quantize: bool = False) -> None:
        if quantize and fp8:
            out[name] = {"dtype": "F8_E4M3", "shape": list(shape)}
            out[name + "_scale"] = {"dtype": "BF16", "shape": [shape[0], 1]}
        else:
            out[name] = {"dtype": "BF16", "shape": list(shape)}

    def decoder_layer(p: str, kind: str) -> None:
        add(p + "input_layernorm.weight", h)
        add(p + "post_attention_layernorm.weight", h)
        for proj, shape in (("gate_proj", (inter, h)), ("up_proj", (inter, h)), ("down_proj", (h, inter))):
            add(f"{p}mlp.{proj}.weight", *shape, quantize=True)
        if kind == "linear_attention":
            a, conv = p + "linear_attn.", 2 * nk * dk + nv * dv
            add(a + "in_proj_qkv.weight", conv, h)
            add(a + "in_proj_z.weight", nv * dv, h)
            add(a + "in_proj_b.weight", nv, h)
            add(a + "in_proj_a.weight", nv, h)
            add(a + "conv1d.weight", conv, 1, t["linear_conv_kernel_dim"])
            add(a + "A_log", nv)
            add(a + "dt_bias", nv)
            add(a + "norm.weight", dv)
            add(a + "out_proj.weight", h, nv * dv)
        else:
            a, gate = p + "self_attn.", 2 if t.get("attn_output_gate", True) else 1
            add(a + "q_proj.weight", gate * heads * hd, h, quantize=True)
            add(a + "k_proj.weight", kv * hd, h, quantize=True)
            add(a + "v_proj.weight", kv * hd, h, quantize=True)
            add(a + "o_proj.weight", h, heads * hd, quantize=True)
            add(a + "q_norm.weight", hd)
            add(a + "k_norm.weight", hd)

    lm = "model.language_model."
    add(lm + "embed_tokens.weight", t["vocab_size"], h)
    if not (config.get("tie_word_embeddings") or t.get("tie_word_embeddings")):
        add("lm_head.weight", t["vocab_size"], h)
    add(lm + "norm.weight", h)
    for i, kind in enumerate(layer_types(config)):
        decoder_layer(f"{lm}layers.{i}.", kind)
    if not fp8:  # the published BF16 checkpoint carries the MTP head; vLLM skips it
        for i in range(t.get("mtp_num_hidden_layers", 0)):
            decoder_layer(f"mtp.layers.{i}.", "full_attention")
        if t.get("mtp_num_hidden_layers"):
            add("mtp.fc.weight", h, 2 * h)
            for norm in ("pre_fc_norm_embedding", "pre_fc_norm_hidden", "norm"):
                add(f"mtp.{norm}.weight", h)

    vh, vi, merged = v["hidden_size"], v["intermediate_size"], v["hidden_size"] * v["spatial_merge_size"] ** 2
    vis = "model.visual."
    for j in range(v["depth"]):
        b = f"{vis}blocks.{j}."
        for name, rows, cols in (
            ("attn.qkv", 3 * vh, vh),
            ("attn.proj", vh, vh),
            ("mlp.linear_fc1", vi, vh),
            ("mlp.linear_fc2", vh, vi),
        ):
            add(b + name + ".weight", rows, cols)
            add(b + name + ".bias", rows)
        for norm in ("norm1", "norm2"):
            add(f"{b}{norm}.weight", vh)
            add(f"{b}{norm}.bias", vh)
    add(vis + "merger.linear_fc1.weight", merged, merged)
    add(vis + "merger.linear_fc1.bias", merged)
    add(vis + "merger.linear_fc2.weight", v["out_hidden_size"], merged)
    add(vis + "merger.linear_fc2.bias", v["out_hidden_size"])
    add(vis + "merger.norm.weight", vh)
    add(vis + "merger.norm.bias", vh)
    patch = v["patch_size"]
    add(vis + "patch_embed.proj.weight", vh, v["in_channels"], v["temporal_patch_size"], patch, patch)
    add(vis + "patch_embed.proj.bias", vh)
    add(vis + "pos_embed.weight", v["num_position_embeddings"], vh)
    return out


# Key numbers of Qwen/Qwen3.5-9B's config.json (huggingface.co/Qwen/Qwen3.5-9B: model card
# "Hidden Dimension 4096, 32 layers, 8 × (3 × Gated DeltaNet + 1 × Gated Attention), DeltaNet
# 32 V / 16 QK heads of 128, attention 16 Q / 4 KV heads of 256, FFN 12288, vocabulary 248320,
# MTP"; the vision tower is transformers' Qwen3_5VisionConfig default with out_hidden_size 4096).
QWEN35_9B_CONFIG: dict[str, Any] = {
    "tie_word_embeddings": False,
    "text_config": {
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "num_hidden_layers": 32,
        "full_attention_interval": 4,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "attn_output_gate": True,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "vocab_size": 248320,
        "mtp_num_hidden_layers": 1,
        "dtype": "bfloat16",
        "mamba_ssm_dtype": "float32",
    },
    "vision_config": {
        "depth": 27,
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_heads": 16,
        "in_channels": 3,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 4096,
        "num_position_embeddings": 2304,
    },
}


PROCESSOR_CACHE_GB = GPU_CHOICES["mm_processor_cache_gb"]


def reference_needs(
    fp8_model: str = "depop-ml/Qwen3.5-9B-FP8-Dynamic", bf16_model: str = "Qwen/Qwen3.5-9B"
) -> list[GpuNeeds]:
    """The 9B pair's GPU needs from ``QWEN35_9B_CONFIG`` (FP8 by the project's recipe)."""
    return [
        gpu_needs("FP8", fp8_model, [estimate_header(QWEN35_9B_CONFIG, fp8=True)], QWEN35_9B_CONFIG),
        gpu_needs("BF16", bf16_model, [estimate_header(QWEN35_9B_CONFIG)], QWEN35_9B_CONFIG),
    ]


def idle_gpu(name: str, total_mib: int) -> Gpu:
    return Gpu(name, total_mib * MiB, total_mib * MiB)


def markdown_table(gpus: Mapping[str, int] = GPUS) -> str:
    """The 9B pair on each GPU (idle, nothing else on it): docs/deployment.md's "GPU memory plan" table."""
    sides = reference_needs()
    rows = [
        "| GPU | FP8 in vLLM | both fit? | gpu_memory_utilization FP8 / BF16 | KV cache tokens FP8 / BF16 "
        "| max_model_len |",
        "|---|---|---|---|---|---|",
    ]
    for name, mib in gpus.items():
        plan = plan_memory(sides, idle_gpu(name, mib))
        name = f"{name} | {fp8_in_vllm(name)}"
        if plan.fits:
            fp8, bf16 = plan.side("FP8"), plan.side("BF16")
            rows.append(
                f"| {name} | yes | {fp8.gpu_memory_utilization:.2f} / {bf16.gpu_memory_utilization:.2f} "
                f"| {fp8.kv_tokens:,} / {bf16.kv_tokens:,} | {fp8.max_model_len} |"
            )
        else:
            alone = next(a for a in plan.alternatives if a.title == "FP8 alone")
            if alone.fits:
                fp8 = alone.sides[0]
                rows.append(
                    f"| {name} | no: FP8 alone fits | {fp8.gpu_memory_utilization:.2f} / – "
                    f"| {fp8.kv_tokens:,} / – | {fp8.max_model_len} |"
                )
            else:
                rows.append(f"| {name} | no, nor FP8 alone | – | – | – |")
    w = {s.label: s.weight_bytes for s in sides}
    rows.append("")
    rows.append(
        f"Weights vLLM loads: FP8 {as_gib(w['FP8'])}, BF16 {as_gib(w['BF16'])}; KV cache "
        f"{sides[0].kv_bytes_per_token // 1024} KiB per token (8 full-attention layers), Gated DeltaNet state "
        f"{sides[0].state_bytes_per_sequence / MiB:.0f} MiB per sequence; {as_gib(ENGINE_OVERHEAD_BYTES)} per engine "
        f"for CUDA context, activations and graphs, {as_gib(sides[0].vision_peak_bytes)} vision encoder peak. "
        f"Host RAM: the multimodal processor caches, {PROCESSOR_CACHE_GB:g} GiB held twice per engine (front "
        f"end and engine core), {as_gib(host_cache_bytes([GPU_CHOICES] * len(sides)))} for the pair."
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="GPU memory plan for the Qwen3.5-9B FP8/BF16 pair.")
    parser.add_argument("--table", action="store_true", help="print docs/deployment.md's table (Markdown)")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table())
    else:
        for name, mib in GPUS.items():
            print(plan_memory(reference_needs(), idle_gpu(name, mib)).message, end="\n\n")


if __name__ == "__main__":
    main()
