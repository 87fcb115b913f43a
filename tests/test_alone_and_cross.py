"""*Each alone* timing, cross-scoring and the verdict through the served app on the tiny FP8/BF16
pair (real vLLM engines; ``gradio_client``, then Chromium, whose screenshots go to tests/artifacts/,
and to docs/ under ``make docs-pictures``); the same checkpoint on both sides is in ``tests/test_agreement.py``."""

from __future__ import annotations

import json
import os
import re
import statistics
import time

import httpx
import jsonschema
import pytest

from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from tests.helpers.browser import chromium, finished, goto_app, send
from tests.helpers.clients import client as app_client
from tests.helpers.clients import heat_maps, split, verdict
from tests.helpers.engines import on_engine_loop
from tests.helpers.record_schema import COMPARISON

pytestmark = pytest.mark.engine

TOKENS = 160  # the served pair's answers (ignore_eos)
ALONE_TOKENS = 64  # each alone's turns and raw streams: a rate over 63 tokens, ~0.6 s a side here (issue 28)
REPS = 3  # medians of 3 (the suite's time, issue 28); the noise floor is measured in each run
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
        settings = GenerationSettings(max_tokens=ALONE_TOKENS, ignore_eos=True)
        first = last = None
        tokens = 0
        async for chunk in engine.stream(prepare([UserTurn("Hi")]), [], settings):
            if chunk.tokens:
                now = time.monotonic()
                first, last, tokens = first or now, now, tokens + chunk.tokens
        return (tokens - 1) / (last - first)

    return on_engine_loop(engine, one(), timeout=120)


def test_each_alone_gives_each_side_its_own_decode_rate_as_the_raw_engine_alone(served, report):
    """Each repetition pairs a page turn timed each alone with each engine's raw stream alone, twice,
    right after it, so that the machine's load (shared by other jobs) hits all alike. The page's rate
    over the raw one (median of the repetitions) must be 1 within the noise: ``NOISE``, or three times
    the spread of the raw engine against itself where the machine is busier than that."""
    url, comparison = served
    client = app_client(url)
    ratios: dict[int, list[float]] = {0: [], 1: []}
    spread: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(REPS):
        message = {"text": "Hi", "files": []}
        update = client.predict(message, timing="alone", max_tokens=ALONE_TOKENS, api_name="/respond")
        _, _, metrics = split(update)
        assert all("timed each alone" in line and f"{ALONE_TOKENS} tokens" in line for line in metrics)
        rec = exported(client)
        client.predict(api_name="/clear")
        answers = rec["turns"][0]["answers"]
        assert rec["turns"][0]["settings"]["timing"] == "alone"
        for side, engine in enumerate(comparison.pool.engines):
            a, b = raw_alone(engine), raw_alone(engine)
            ratios[side].append(answers[side]["decode_tokens_per_s"] / a)
            spread[side].append(abs(b / a - 1))
    load = os.getloadavg()[0]
    for side, label in enumerate(comparison.labels):
        ratio, noise = statistics.median(ratios[side]), statistics.median(spread[side])
        said = f"page / raw engine alone decode rate {ratio:.2f}, raw against itself ±{noise:.2f}"
        report(f"each alone, {label}: {said} (medians of {REPS}, load {load:.0f})")
        assert abs(ratio - 1) <= max(NOISE, 3 * noise), (label, ratios[side], spread[side])


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


# --- in the browser (Debian's Chromium through Playwright) -------------------------------------


@pytest.fixture(scope="module")
def tab(served):
    with chromium() as browser:
        yield browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()


def region(tab, first: str, last: str) -> dict:
    """The clip from the top of ``first`` to the bottom of ``last`` (page coordinates), full width."""
    top, bottom = tab.locator(first).bounding_box(), tab.locator(last).bounding_box()
    scroll = tab.evaluate("() => window.scrollY")
    y = top["y"] + scroll
    return {"x": 0, "y": y, "width": 1400, "height": bottom["y"] + scroll + bottom["height"] - y + 8}


@pytest.mark.browser
def test_the_verdict_and_the_heat_map_in_the_browser(tab, served, pictures):
    goto_app(tab, served[0])
    send(tab, "Describe a cat.", [])
    finished(tab)
    tab.wait_for_selector("#heat-0 .heat-token", timeout=60_000)
    said = tab.inner_text("#verdict")
    assert "Verdict, latest turn:" in said and "answers are noise" in said and "BF16 finds FP8's answer" in said
    assert not re.search(r"tokens/s|faster|slower", said)
    token = tab.locator("#heat-0 .heat-token").nth(3)
    assert re.fullmatch(
        r"Δ [-+]\d\.\d{3}: BF16 finds this token \d+\.\d% (less|more) likely than FP8", token.get_attribute("title")
    )
    assert "mean Δ log-prob" in tab.inner_text("#heat-0")
    tab.click("#meanings button")
    tab.wait_for_selector("#meanings :text('how long you wait before the answer starts')", timeout=10_000)
    pictures.shoot(tab, "browser-verdict.png", full_page=True)
    clip = region(tab, "#verdict", "#metrics-1")
    pictures.shoot(tab, "verdict.png", docs="screenshot-verdict.png", full_page=True, clip=clip)
    clip = region(tab, "#cross", "#cross")
    pictures.shoot(tab, "heatmap.png", docs="screenshot-heatmap.png", full_page=True, clip=clip)


@pytest.mark.browser
def test_each_alone_in_the_browser_streams_one_side_after_the_other(tab, served, pictures):
    goto_app(tab, served[0], timing="alone")
    tab.click("#settings button")
    tab.wait_for_function(
        "() => document.querySelector('#timing input:checked')?.closest('label')?.innerText.includes('each alone')",
        timeout=10_000,
    )
    send(tab, "Hi", [])
    # BF16 waits while FP8 answers: seen in its figures, with FP8 already counting tokens
    waiting = "/waiting for its turn/.test(document.querySelector('#metrics-1').innerText)"
    counting = "/\\d+ tokens…/.test(document.querySelector('#metrics-0').innerText)"
    tab.wait_for_function(f"() => {waiting} && {counting}", timeout=60_000)
    finished(tab)
    for side in (0, 1):
        assert tab.inner_text(f"#metrics-{side}").startswith("timed each alone · TTFT")
    pictures.shoot(tab, "browser-alone.png", full_page=True)
    clip = region(tab, "#pane-0", "#metrics-1")
    pictures.shoot(tab, "alone.png", docs="screenshot-alone.png", full_page=True, clip=clip)
