"""The transformers backend against the in-process vLLM engine, on the tiny BF16 and FP8 checkpoints.

The same turn (text, image, video) goes to both backends with the project's CPU settings
(``cpu_spec``): the prompt must be the same token ids with the same visual tokens. Then both
engines score the same answer teacher-forced (vLLM's prompt log-probabilities, a forward pass in
transformers; ``inference.compare.scores``): every token's log-probability must agree within the
tolerance, and the two engines' best tokens must agree wherever the best leads the second by more
than twice the tolerance in both (a *decided* position). Elsewhere a random tiny model's two best
tokens can lie closer than the engines' rounding, and which one wins depends on the machine's
kernels (vLLM picks AVX2 or AVX-512 ones per CPU), so no argmax is compared there. Each case
reports its decided positions and largest gap in the test summary, and fails if too few positions
are decided to mean anything. Tolerances, in nats on a token's raw log-probability:

* BF16: ``BF16_TOLERANCE`` = 0.02. The two backends run different kernels (vLLM's CPU attention
  and Gated DeltaNet kernels vs transformers' SDPA and reference PyTorch code) and round to BF16
  at different points. This model's logits are below 1 in magnitude, where one BF16 step is
  2^-8 = 0.0039: measured gaps were 0.008 at most over 128 tokens, with vLLM's AVX2 and AVX-512 kernels.
* FP8: ``FP8_TOLERANCE`` = 0.05. vLLM runs real FP8 matmuls; transformers on CPU dequantizes the
  FP8 weights (exactly: weight x per-channel scale) and simulates the dynamic per-token FP8
  activation quantization in BF16. One activation rounded to the neighbouring E4M3 value moves
  it by 2^-3 of itself, so the FP8 gaps are larger: measured 0.031 at most over 128 tokens with
  either kernel set.

The answer scored is vLLM's greedy answer (``SCORED`` tokens); vLLM's own scores of it must also
match the log-probabilities it streamed while decoding it, within the same tolerance (prefill and
decode run different kernels).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from inference.compare.scores import compare
from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.spec import cpu_pair
from tests.helpers.engines import core_pid, kernel_library
from tests.helpers.servers import started
from tests.helpers.streams import collect

pytestmark = pytest.mark.engine

BF16_TOLERANCE = 0.02
FP8_TOLERANCE = 0.05
SIDES = {"fp8": 0, "bf16": 1}  # cpu_pair's order
TOLERANCE = {SIDES["fp8"]: FP8_TOLERANCE, SIDES["bf16"]: BF16_TOLERANCE}
SCORED = 256  # tokens of answer scored by both engines
MIN_DECIDED = 16  # decided positions needed for the best-token check to mean something (measured: 41-167)
GREEDY = GenerationSettings(max_tokens=SCORED, ignore_eos=True)
LONG = GenerationSettings(max_tokens=4000, ignore_eos=True)


@pytest.fixture(scope="module")
def vllm(tiny_pool, report):
    report(f"cross-engine: vLLM's EngineCore runs {kernel_library(core_pid(tiny_pool.engines[0]))}")
    return tiny_pool


@pytest.fixture(scope="module")
def hf(tiny_dir, vllm):  # after vLLM: its EngineCores fork from this process before any generate thread
    with started([replace(s, backend="transformers") for s in cpu_pair(tiny_dir)]) as pool:
        yield pool


def turn(kind: str, media) -> UserTurn:
    files = {"text": (), "image": (str(media["image"]),), "video": (str(media["video"]),)}[kind]
    return UserTurn("What is in it?", files)


def generate_threads(label: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"generate-{label}"]


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
@pytest.mark.parametrize("kind", ["text", "image", "video"])
async def test_same_prompt_ids_visual_tokens_and_scores_of_the_same_answer(vllm, hf, media, kind, side, report):
    prepared = prepare([turn(kind, media)])
    ours = await collect(hf.engines[side].stream(prepared, [], replace(GREEDY, max_tokens=1)))
    theirs = await collect(vllm.engines[side].stream(prepared, [], GREEDY))
    assert ours[0].prompt_token_ids == theirs[0].prompt_token_ids
    assert ours[0].prompt_tokens == theirs[0].prompt_tokens == len(ours[0].prompt_token_ids)
    assert ours[0].visual_tokens == theirs[0].visual_tokens == prepared.visual_tokens
    assert (ours[0].visual_tokens > 0) == (kind != "text")

    answer = [t for c in theirs for t in c.token_ids]
    streamed = [p for c in theirs for p in c.logprobs]
    assert len(answer) == len(streamed) == SCORED
    # A random model can emit an image/video placeholder, which no engine can score: such a token
    # becomes a full stop (both engines then score the same edited answer), and vLLM's streamed
    # log-probabilities are compared up to the first edit only.
    engine = vllm.engines[side]
    stop = engine._tokenizer.encode(".", add_special_tokens=False)[0]
    edits = [i for i, t in enumerate(answer) if engine.visual_count([t])]
    answer = [stop if i in edits else t for i, t in enumerate(answer)]
    tolerance = TOLERANCE[side]
    scored_by_vllm = await vllm.engines[side].score(prepared, [], GREEDY, answer)
    scored_by_hf = await hf.engines[side].score(prepared, [], GREEDY, answer)
    assert [s.token for s in scored_by_vllm] == [s.token for s in scored_by_hf] == answer
    # vLLM's prefill scores are the log-probabilities it decoded the answer with
    unedited = edits[0] if edits else SCORED
    assert (
        max(abs(s.logprob - p) for s, p in zip(scored_by_vllm[:unedited], streamed[:unedited], strict=True))
        <= tolerance
    )
    result = compare(scored_by_vllm, scored_by_hf, tolerance)
    edited = f", {len(edits)} placeholder tokens edited" if edits else ""
    report(f"cross-engine {kind}-{list(SIDES)[side]} (tolerance {tolerance}): {result.summary()}{edited}")
    assert result.largest_gap <= tolerance, result.gaps
    assert len(result.decided) >= MIN_DECIDED, f"too few decided positions to compare best tokens: {result.summary()}"
    assert not result.disagreements, f"best tokens differ at decided positions {result.disagreements}"


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
async def test_both_checkpoints_stream_whole_answers_in_both_backends(vllm, hf, media, side):
    prepared = prepare([turn("image", media)])
    settings = GenerationSettings(max_tokens=24, ignore_eos=True)
    for pool in (hf, vllm):
        chunks = await collect(pool.engines[side].stream(prepared, [], settings))
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
        return [t for c in await collect(engine.stream(prepared, [], settings)) for t in c.token_ids]

    first, again, other = await ids(sampled), await ids(sampled), await ids(replace(sampled, seed=8))
    greedy = await ids(replace(sampled, temperature=0.0))
    assert first == again and first != other and first != greedy


def test_penalties_are_vllms_own_rule_on_the_same_logits():
    """Repetition penalty (transformers' own processor) and presence penalty (vLLM's rule, which
    transformers lacks) change the same logits exactly as vLLM's ``apply_penalties`` does.
    (Comparing the two engines' penalised greedy answers would compare argmaxes that a random
    tiny model can leave tied within the engines' rounding.)"""
    import torch
    from vllm.model_executor.layers.utils import apply_penalties

    from inference.engines.hf_steps import sampling

    vocab, prompt, answer = 50, [3, 7, 7, 11], [7, 20, 20, 42]
    logits = torch.randn(1, vocab, generator=torch.Generator().manual_seed(0)) * 3
    settings = GenerationSettings(repetition_penalty=1.3, presence_penalty=1.5)
    ours = sampling(settings, len(prompt))(torch.tensor([prompt + answer]), logits.clone())
    theirs = apply_penalties(
        logits.clone(),
        torch.tensor([prompt]),
        torch.tensor([answer]),
        presence_penalties=torch.tensor([1.5]),
        frequency_penalties=torch.tensor([0.0]),
        repetition_penalties=torch.tensor([1.3]),
    )
    assert not torch.equal(ours, logits)  # the penalties did something
    torch.testing.assert_close(ours, theirs)


async def test_penalties_change_the_greedy_answer_in_both_backends(vllm, hf):
    prepared = prepare([UserTurn("Say something repetitive.")])
    plain = GenerationSettings(max_tokens=16, ignore_eos=True)
    penalised = replace(plain, repetition_penalty=1.3, presence_penalty=1.5)
    side = SIDES["bf16"]
    for pool in (hf, vllm):
        answers = [
            [t for c in await collect(pool.engines[side].stream(prepared, [], s)) for t in c.token_ids]
            for s in (plain, penalised)
        ]
        assert answers[0] != answers[1]
        assert len(set(answers[1])) >= len(set(answers[0]))  # fewer repeats, not more
