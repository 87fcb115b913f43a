"""*Each alone* timing and cross-scoring through the served app on the tiny FP8/BF16 pair (real vLLM
engines, ``gradio_client``); the same checkpoint on both sides is in ``tests/test_agreement.py``."""

from __future__ import annotations

import json
import statistics
import time

import httpx
import jsonschema
import pytest

from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from tests.helpers.clients import client as app_client
from tests.helpers.clients import heat_maps, split, verdict
from tests.helpers.engines import on_engine_loop
from tests.helpers.record_schema import COMPARISON

pytestmark = pytest.mark.engine

TOKENS = 160  # the served pair's answers (ignore_eos)
REPS = 3
NOISE = 0.35  # a shared 2-core machine: decode rates of the same engine vary this much between runs


def exported(client) -> dict:
    files = client.predict(api_name="/export")["value"]
    url = next(f["url"] for f in files if f["orig_name"] == "comparison.json")
    rec = json.loads(httpx.get(url, timeout=10).text)
    jsonschema.validate(rec, COMPARISON)
    return rec


def raw_alone(engine) -> float:
    """The benchmark's raw-engine figure for one side alone: ``Engine.stream`` with nothing else
    running, decode rate after the first token (``bench/comparison.py``'s alone configurations)."""

    async def one() -> float:
        settings = GenerationSettings(max_tokens=TOKENS, ignore_eos=True)
        first = last = None
        tokens = 0
        async for chunk in engine.stream(prepare([UserTurn("Hi")]), [], settings):
            if chunk.tokens:
                now = time.monotonic()
                first, last, tokens = first or now, now, tokens + chunk.tokens
        return (tokens - 1) / (last - first)

    return on_engine_loop(engine, one(), timeout=120)


def test_each_alone_gives_each_side_its_own_decode_rate_as_the_raw_engine_alone(served, report):
    url, comparison = served
    client = app_client(url)
    page, raw = {0: [], 1: []}, {0: [], 1: []}
    for _ in range(REPS):  # interleaved, so that a busy moment hits both measurements alike
        update = client.predict({"text": "Hi", "files": []}, timing="alone", api_name="/respond")
        _, _, metrics = split(update)
        assert all("timed each alone" in line and f"{TOKENS} tokens" in line for line in metrics)
        rec = exported(client)
        client.predict(api_name="/clear")
        answers = rec["turns"][0]["answers"]
        assert rec["turns"][0]["settings"]["timing"] == "alone"
        for side, engine in enumerate(comparison.pool.engines):
            page[side].append(answers[side]["decode_tokens_per_s"])
            raw[side].append(raw_alone(engine))
    for side, label in enumerate(comparison.labels):
        mine, alone = statistics.median(page[side]), statistics.median(raw[side])
        report(f"each alone, {label}: page {mine:.0f} tok/s, raw engine alone {alone:.0f} tok/s (medians of {REPS})")
        assert abs(mine / alone - 1) <= NOISE, (label, page[side], raw[side])


def test_a_raced_turn_is_labelled_as_sharing_the_hardware_and_the_verdict_quotes_no_speed(served):
    client = app_client(served[0])
    update = client.predict({"text": "Hi", "files": []}, timing="race", max_tokens=24, api_name="/respond")
    _, _, metrics = split(update)
    assert all("race: both sides at once, sharing the hardware" in line for line in metrics)
    said = verdict(update)
    assert "answers are noise" in said and "tokens/s" not in said and "faster" not in said


def test_the_tiny_fp8_twin_cross_scores_a_small_positive_mean_under_bf16(served, report):
    client = app_client(served[0])
    update = client.predict({"text": "Describe a cat.", "files": []}, api_name="/respond")
    (heat,) = heat_maps(update)  # the FP8 side's
    scored = heat.count("class='heat-token'")  # up to the first image/video placeholder, if the answer has one
    assert scored and (scored == TOKENS or f"scored up to token {scored} of {TOKENS}" in heat), heat
    row = exported(client)["turns"][0]["agreement"][0]
    mean = row["cross_score_mean"]
    report(f"cross-score, tiny FP8 answer under BF16: mean Δ {mean:.4f} nats/token over {scored} tokens")
    assert 0 < row["cross_score_mean"] < 0.5, row
    assert row["cross_score_reverse_mean"] is not None
