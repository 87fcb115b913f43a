"""The transformers backend against the in-process vLLM engine, on the tiny BF16 and FP8 checkpoints.

The same turn (text, image, video) goes to both backends with the project's CPU settings
(``cpu_spec``): the prompt must be the same token ids with the same visual tokens, and the
greedy first token the same with nearly the same log-probability. Tolerances, in nats on the
first token's raw log-probability:

* BF16: ``BF16_TOLERANCE`` = 0.02. The two backends run different kernels (vLLM's CPU attention
  and Gated DeltaNet kernels vs transformers' SDPA and reference PyTorch code) and round to BF16
  at different points. This model's logits are below 1 in magnitude, where one BF16 step is
  2^-8 = 0.0039: measured gaps were 0.0000-0.0039 on the first token (0.008 at most over the
  tokens both chose alike), so 0.02 is five BF16 steps of a logit.
* FP8: ``FP8_TOLERANCE`` = 0.05. vLLM runs real FP8 matmuls; transformers on CPU dequantizes the
  FP8 weights (exactly: weight x per-channel scale) and simulates the dynamic per-token FP8
  activation quantization in BF16. One activation rounded to the neighbouring E4M3 value moves
  it by 2^-3 of itself, so the FP8 gaps are larger: measured 0.004-0.012 on the first token,
  0.022 at most over the common prefix.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from inference.chat import GenerationSettings, UserTurn, prepare
from inference.metrics import Chunk
from inference.spec import cpu_pair
from tests.conftest import started

pytestmark = pytest.mark.engine

BF16_TOLERANCE = 0.02
FP8_TOLERANCE = 0.05
SIDES = {"fp8": 0, "bf16": 1}  # cpu_pair's order
GREEDY = GenerationSettings(max_tokens=8)
LONG = GenerationSettings(max_tokens=4000, ignore_eos=True)


@pytest.fixture(scope="module")
def vllm(tiny_dir):
    with started(cpu_pair(tiny_dir)) as pool:
        yield pool


@pytest.fixture(scope="module")
def hf(tiny_dir, vllm):  # after vLLM: its EngineCores fork from this process before any generate thread
    with started([replace(s, backend="transformers") for s in cpu_pair(tiny_dir)]) as pool:
        yield pool


def turn(kind: str, media) -> UserTurn:
    files = {"text": (), "image": (str(media["image"]),), "video": (str(media["video"]),)}[kind]
    return UserTurn("What is in it?", files)


async def collect(engine, prepared, settings) -> list[Chunk]:
    return [chunk async for chunk in engine.stream(prepared, [], settings)]


def generate_threads(label: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"generate-{label}"]


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
@pytest.mark.parametrize("kind", ["text", "image", "video"])
async def test_same_prompt_ids_visual_tokens_and_greedy_first_token(vllm, hf, media, kind, side):
    prepared = prepare([turn(kind, media)])
    ours = await collect(hf.engines[side], prepared, GREEDY)
    theirs = await collect(vllm.engines[side], prepared, GREEDY)
    assert ours[0].prompt_token_ids == theirs[0].prompt_token_ids
    assert ours[0].prompt_tokens == theirs[0].prompt_tokens == len(ours[0].prompt_token_ids)
    assert ours[0].visual_tokens == theirs[0].visual_tokens == prepared.visual_tokens
    assert (ours[0].visual_tokens > 0) == (kind != "text")
    assert ours[0].token_ids[0] == theirs[0].token_ids[0]
    gap = abs(ours[0].logprobs[0] - theirs[0].logprobs[0])
    assert gap <= (FP8_TOLERANCE if side == SIDES["fp8"] else BF16_TOLERANCE), gap


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
async def test_both_checkpoints_stream_whole_answers_in_both_backends(vllm, hf, media, side):
    prepared = prepare([turn("image", media)])
    settings = GenerationSettings(max_tokens=24, ignore_eos=True)
    for pool in (hf, vllm):
        chunks = await collect(pool.engines[side], prepared, settings)
        ids = [t for c in chunks for t in c.token_ids]
        assert len(ids) == sum(c.tokens for c in chunks) == 24 and chunks[-1].finish_reason == "length"
        assert len([c for c in chunks if c.text]) >= 5  # streamed, not one block
        text, whole = "".join(c.text for c in chunks), pool.engines[side].decode(ids)
        # vLLM keeps back a character still incomplete at the end; transformers flushes it
        assert text == whole if pool is hf else whole.startswith(text)
        assert len([x for c in chunks for x in c.logprobs]) == 24


def test_fp8_checkpoint_keeps_its_fp8_recipe_in_transformers(hf):
    """On CPU the FP8 weights are dequantized at load, and the layers still quantize their
    inputs per token (compressed-tensors' simulation): not silently a BF16 model."""
    import torch

    model = hf.engines[SIDES["fp8"]]._model
    mlp = model.model.language_model.layers[-1].mlp.gate_proj  # layer 3 is full attention: FP8 MLP
    assert hasattr(mlp, "weight_scale") and mlp.quantization_scheme.input_activations.dynamic
    x = torch.randn(4, mlp.in_features, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert not torch.equal(mlp(x), torch.nn.functional.linear(x, mlp.weight))  # inputs went through FP8
    plain = hf.engines[SIDES["bf16"]]._model.model.language_model.layers[-1].mlp.gate_proj
    assert not hasattr(plain, "weight_scale")


async def test_cancelling_a_stream_stops_its_generate_thread(hf):
    engine = hf.engines[SIDES["bf16"]]
    seen = 0

    async def consume():
        nonlocal seen
        async for chunk in engine.stream(prepare([UserTurn("Keep talking.")]), [], LONG):
            seen += chunk.tokens

    task = asyncio.create_task(consume())
    while seen < 5:
        await asyncio.sleep(0.01)
    assert generate_threads(engine.spec.label) and await engine.has_work()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):  # one decoding step is milliseconds; allow a slow, shared machine 10 s
        if not generate_threads(engine.spec.label) and engine.num_unfinished_requests() == 0:
            break
        await asyncio.sleep(0.02)
    assert not generate_threads(engine.spec.label), "generate kept running after the consumer was cancelled"
    assert engine.num_unfinished_requests() == 0 and not await engine.has_work()
    assert seen < 1000


async def test_requests_on_one_engine_are_served_one_after_the_other(hf):
    engine = hf.engines[SIDES["bf16"]]
    prepared = prepare([UserTurn("Hello there")])
    settings = GenerationSettings(max_tokens=16, ignore_eos=True)
    loop = asyncio.get_running_loop()

    async def timed():
        stamps = [(loop.time(), c) async for c in engine.stream(prepared, [], settings)]
        return stamps[0][0], stamps[-1][0], [t for _, c in stamps for t in c.token_ids]

    (_, a_last, a_ids), (b_first, _, b_ids) = await asyncio.gather(timed(), timed())
    assert a_last <= b_first  # in call order, never interleaved
    assert a_ids == b_ids  # greedy: the same answer both times


async def _until(condition, seconds: float = 10) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_waiting_request_that_is_stopped_never_runs(hf):
    engine = hf.engines[SIDES["bf16"]]
    running = engine.stream(prepare([UserTurn("Keep talking.")]), [], LONG)
    await anext(running)
    waiting = engine.stream(prepare([UserTurn("Me too.")]), [], LONG)
    task = asyncio.create_task(anext(waiting))
    assert await _until(lambda: engine.num_unfinished_requests() == 2)
    await asyncio.sleep(0.2)
    assert not task.done()  # queued behind the running one
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # it leaves the queue while the first still runs: it never reached generate
    assert await _until(lambda: engine.num_unfinished_requests() == 1)
    assert len(generate_threads(engine.spec.label)) == 1
    await running.aclose()
    assert await _until(lambda: engine.num_unfinished_requests() == 0 and not generate_threads(engine.spec.label))


async def test_seeded_sampling_repeats_and_the_seed_matters(hf):
    engine = hf.engines[SIDES["bf16"]]
    prepared = prepare([UserTurn("Tell me a story.")])
    sampled = GenerationSettings(max_tokens=24, temperature=1.0, top_p=0.9, top_k=50, seed=7, ignore_eos=True)

    async def ids(settings):
        return [t for c in await collect(engine, prepared, settings) for t in c.token_ids]

    first, again, other = await ids(sampled), await ids(sampled), await ids(replace(sampled, seed=8))
    greedy = await ids(replace(sampled, temperature=0.0))
    assert first == again and first != other and first != greedy


async def test_penalties_match_vllm_on_the_greedy_answer(vllm, hf):
    """Repetition penalty (transformers' own processor) and presence penalty (vLLM's rule, which
    transformers lacks) steer the greedy answer as in vLLM."""
    prepared = prepare([UserTurn("Say something repetitive.")])
    plain = GenerationSettings(max_tokens=16, ignore_eos=True)
    penalised = replace(plain, repetition_penalty=1.3, presence_penalty=1.5)
    side = SIDES["bf16"]
    answers = {}
    for name, settings in (("plain", plain), ("penalised", penalised)):
        for backend, pool in (("hf", hf), ("vllm", vllm)):
            chunks = await collect(pool.engines[side], prepared, settings)
            answers[name, backend] = [t for c in chunks for t in c.token_ids]
    assert answers["penalised", "hf"] != answers["plain", "hf"]  # the penalties did something
    assert answers["penalised", "hf"][:8] == answers["penalised", "vllm"][:8]
