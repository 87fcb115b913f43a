"""The GPU memory plan: bytes from safetensors headers, the 9B pair on common GPUs, app.py's use of it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from inference.deploy import gpu, memory, memory_table
from inference.deploy.memory import GPUS, Gpu, MemoryPlan, plan_memory
from inference.deploy.memory_table import idle_gpu, reference_needs
from inference.spec import gpu_pair

# The 9B's published numbers, read from its model card (huggingface.co/Qwen/Qwen3.5-9B): hidden
# 4096, 32 layers as 8 × (3 Gated DeltaNet + 1 gated attention), DeltaNet 32 V / 16 QK heads of 128,
# attention 16 Q / 4 KV heads of 256, FFN 12288, vocabulary 248320; and its "Files" page: four
# shards of 5.28 + 5.34 + 5.37 + 3.33 GB (vision tower and MTP head included).
CARD = {
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "linear_num_value_heads": 32,
    "linear_num_key_heads": 16,
    "linear_key_head_dim": 128,
    "linear_value_head_dim": 128,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "intermediate_size": 12288,
    "vocab_size": 248320,
}
CARD_SHARDS_BYTES = (5.28 + 5.34 + 5.37 + 3.33) * 1e9


@pytest.fixture(scope="module")
def pair():
    return reference_needs()


@pytest.fixture(scope="module")
def plans(pair) -> dict[str, MemoryPlan]:
    return {name: plan_memory(pair, idle_gpu(name, mib)) for name, mib in GPUS.items()}


# --- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["bf16", "fp8"])
def test_header_bytes_equal_the_file_size_minus_its_header(tiny_dir: Path, side: str):
    path = tiny_dir / side / "model.safetensors"
    header, length = memory.read_header(path)
    assert memory.tensor_bytes(header) == path.stat().st_size - 8 - length


@pytest.mark.parametrize("side", ["bf16", "fp8"])
def test_config_alone_predicts_the_tiny_checkpoints_tensors(tiny_dir: Path, side: str):
    """The shapes the 9B table is built from come from the same derivation, checked here on real files."""
    headers, config = memory.read_local(tiny_dir / side)
    real = {k: {"dtype": v["dtype"], "shape": v["shape"]} for k, v in headers[0].items() if k != "__metadata__"}
    assert memory_table.estimate_header(config, fp8=side == "fp8") == real


def test_tiny_fp8_weighs_less_than_bf16_and_has_the_same_cache_geometry(tiny_dir: Path):
    fp8 = memory.gpu_needs("FP8", "fp8", *memory.read_local(tiny_dir / "fp8"))
    bf16 = memory.gpu_needs("BF16", "bf16", *memory.read_local(tiny_dir / "bf16"))
    assert fp8.weight_bytes < bf16.weight_bytes
    assert fp8.kv_bytes_per_token == bf16.kv_bytes_per_token > 0
    assert fp8.state_bytes_per_sequence == bf16.state_bytes_per_sequence > 0


def test_only_full_attention_layers_cache_per_token_and_linear_layers_keep_a_fixed_state(tiny_dir: Path):
    _, config = memory.read_local(tiny_dir / "bf16")
    text = config["text_config"]
    full = text["layer_types"].count("full_attention")
    per_layer = 2 * text["num_key_value_heads"] * text["head_dim"] * 2
    assert memory.kv_bytes_per_token(config) == full * per_layer < len(text["layer_types"]) * per_layer
    all_full = {"text_config": {**text, "layer_types": ["full_attention"] * text["num_hidden_layers"]}}
    assert memory.state_bytes_per_sequence(all_full) == 0


def test_mtp_head_is_not_counted_as_loaded_weights():
    header = memory_table.estimate_header(memory_table.QWEN35_9B_CONFIG)
    mtp = {k: v for k, v in header.items() if k.startswith("mtp.")}
    assert mtp
    assert memory.tensor_bytes(header, memory.UNLOADED_PREFIXES) == memory.tensor_bytes(header) - memory.tensor_bytes(
        mtp
    )


def test_nvidia_smi_output_is_parsed_in_mib():
    gpu = memory.parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 80994\nNVIDIA H100 80GB HBM3, 81559, 1\n")
    assert gpu == Gpu("NVIDIA H100 80GB HBM3", 81559 * 2**20, 80994 * 2**20)
    with pytest.raises(ValueError, match="unexpected"):
        memory.parse_nvidia_smi("No devices were found")


# --- the 9B pair ---------------------------------------------------------------------------


def test_reference_config_matches_the_model_card():
    text = memory_table.QWEN35_9B_CONFIG["text_config"]
    assert {k: text[k] for k in CARD} == CARD
    assert memory.layer_types(memory_table.QWEN35_9B_CONFIG).count("full_attention") == 8


def test_derived_9b_checkpoint_weighs_what_the_hub_lists():
    header = memory_table.estimate_header(memory_table.QWEN35_9B_CONFIG)
    assert memory.tensor_bytes(header) == pytest.approx(CARD_SHARDS_BYTES, rel=0.005)


def test_fp8_weights_are_well_under_bf16(pair):
    fp8, bf16 = pair
    assert fp8.weight_bytes < 0.75 * bf16.weight_bytes
    assert fp8.kv_bytes_per_token == bf16.kv_bytes_per_token == 8 * 2 * 4 * 256 * 2


@pytest.mark.parametrize("name", ["L4 24 GB", "A10G 24 GB"])
def test_24gb_gpus_do_not_fit_both_but_fp8_alone_fits(plans, name):
    plan = plans[name]
    assert not plan.fits and plan.sides == ()
    assert "do not fit" in plan.message and "FP8 alone fits" in plan.message
    assert "BF16 (Qwen/Qwen3.5-9B) from a vLLM server on another GPU" in plan.message
    alone = {a.title: a for a in plan.alternatives}
    assert alone["FP8 alone"].fits and not alone["BF16 alone"].fits
    assert alone["BF16 on a remote vLLM server"].fits
    (fp8,) = alone["FP8 alone"].sides
    assert fp8.kv_tokens >= fp8.max_model_len
    assert fp8.gpu_memory_utilization <= memory.MAX_UTILIZATION


@pytest.mark.parametrize("name", ["L40S 48 GB", "A100 80 GB", "H100 80 GB", "H200 141 GB"])
def test_larger_gpus_fit_both_within_095_with_a_full_context_each(plans, pair, name):
    plan = plans[name]
    assert plan.fits, plan.message
    assert sum(s.gpu_memory_utilization for s in plan.sides) <= 0.95
    total = idle_gpu(name, GPUS[name]).total_bytes
    for side, need in zip(plan.sides, pair, strict=True):
        assert side.kv_tokens >= side.max_model_len
        budget = side.gpu_memory_utilization * total
        used = need.fixed_bytes + need.state_bytes_per_sequence + side.kv_tokens * need.kv_bytes_per_token
        assert used <= budget < used + need.kv_bytes_per_token + total / 100 + 1


@pytest.mark.parametrize("name", ["A100 80 GB", "H100 80 GB", "H200 141 GB"])
def test_80gb_and_up_keep_the_32k_context_and_give_both_sides_similar_caches(plans, name):
    fp8, bf16 = plans[name].sides
    assert fp8.max_model_len == bf16.max_model_len == 32768
    assert math.isclose(fp8.kv_tokens, bf16.kv_tokens, rel_tol=0.05)


def test_h200_gets_a_larger_cache_than_h100(plans):
    h100, h200 = plans["H100 80 GB"], plans["H200 141 GB"]
    for a, b in zip(h100.sides, h200.sides, strict=True):
        assert b.kv_tokens > 2 * a.kv_tokens


def test_l40s_fits_by_shortening_the_context_and_says_so(plans):
    plan = plans["L40S 48 GB"]
    assert plan.fits
    assert memory.MIN_MODEL_LEN <= plan.sides[0].max_model_len < 32768
    assert f"max_model_len is {plan.sides[0].max_model_len}, not 32768" in plan.message


def test_memory_held_by_others_lowers_the_plan(pair):
    total = 81559 * 2**20
    idle = plan_memory(pair, Gpu("H100", total, total))
    busy = plan_memory(pair, Gpu("H100", total, total // 2))
    assert idle.fits and not busy.fits
    assert "39.8 GiB free" in busy.message
    partly = plan_memory(pair, Gpu("H100", total, int(total * 0.8)))
    assert sum(s.gpu_memory_utilization for s in partly.sides) < 0.8


@pytest.mark.engine  # reads vLLM's own source (no engine start)
def test_host_memory_counts_each_engines_processor_cache_twice_as_vllm_documents():
    """vLLM 0.32 holds mm_processor_cache_gb in the front end and again in the engine core."""
    import inspect

    from vllm.config.multimodal import MultiModalConfig

    from inference.spec import GPU_CHOICES

    source = " ".join(inspect.getsource(MultiModalConfig).split())
    assert "duplicated for each API process and engine core process" in source
    assert MultiModalConfig().mm_processor_cache_gb == memory.VLLM_PROCESSOR_CACHE_GB
    gib = memory.GiB
    assert memory.host_cache_bytes([GPU_CHOICES, GPU_CHOICES]) == 2 * 2 * GPU_CHOICES["mm_processor_cache_gb"] * gib
    assert memory.host_cache_bytes([{}]) == 2 * memory.VLLM_PROCESSOR_CACHE_GB * gib  # vLLM's default, twice
    assert "8.0 GiB for the pair" in memory_table.markdown_table()


def test_readme_table_is_the_generated_one():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    assert memory_table.markdown_table() in readme


# --- app.py on the CUDA path ---------------------------------------------------------------


def test_app_sets_each_side_from_the_plan(monkeypatch, tiny_dir: Path):
    import app

    smi = "NVIDIA H100 80GB HBM3, 81559, 81000\n"
    monkeypatch.setattr(gpu.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": smi, "returncode": 0})())
    args = app.parse_args(
        ["--device", "cuda", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", f"BF16={tiny_dir / 'bf16'}"]
    )
    specs = app.resolve_specs(args)
    expected = plan_memory(
        [memory.gpu_needs(s.label, s.model, *memory.read_local(Path(s.model))) for s in specs],
        memory.parse_nvidia_smi(smi),
        32768,
    )
    assert expected.fits
    for spec, side in zip(specs, expected.sides, strict=True):
        assert spec.engine_args["gpu_memory_utilization"] == side.gpu_memory_utilization
        assert spec.engine_args["max_model_len"] == side.max_model_len
    assert sum(s.engine_args["gpu_memory_utilization"] for s in specs) <= memory.MAX_UTILIZATION


def test_app_exits_with_the_plan_message_when_the_pair_does_not_fit(monkeypatch, pair):
    import app

    smi = "NVIDIA L4, 23034, 22900\n"
    monkeypatch.setattr(gpu.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": smi, "returncode": 0})())
    config = memory_table.QWEN35_9B_CONFIG
    checkpoints = {s.model: ([memory_table.estimate_header(config, fp8=s.label == "FP8")], config) for s in pair}
    monkeypatch.setattr(memory, "read_checkpoint", checkpoints.__getitem__)
    with pytest.raises(SystemExit) as exit_:
        app.resolve_specs(app.parse_args(["--device", "cuda"]))
    assert "do not fit on NVIDIA L4" in str(exit_.value.code) and "FP8 alone fits" in str(exit_.value.code)


def test_app_keeps_configured_settings_when_headers_cannot_be_read(monkeypatch):
    import app

    smi = "NVIDIA H100 80GB HBM3, 81559, 81000\n"
    monkeypatch.setattr(gpu.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": smi, "returncode": 0})())

    def offline(model):
        raise OSError(f"cannot reach the Hub for {model}")

    monkeypatch.setattr(memory, "read_checkpoint", offline)
    specs = app.resolve_specs(app.parse_args(["--device", "cuda", "--fp8-model", "org/a", "--bf16-model", "org/b"]))
    assert [s.model for s in specs] == ["org/a", "org/b"]
    assert [s.engine_args["gpu_memory_utilization"] for s in specs] == [
        s.engine_args["gpu_memory_utilization"] for s in gpu_pair()
    ]


def test_planning_imports_neither_torch_nor_vllm():
    import subprocess
    import sys

    code = "import sys, inference.deploy.memory; print(sorted({'torch', 'vllm', 'gradio'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
