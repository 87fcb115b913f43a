"""Divergence through the app when both sides run the same checkpoint: they must agree exactly."""

from __future__ import annotations

import json
import re

import httpx
import jsonschema
import pytest
from gradio_client import handle_file

from tests.helpers.clients import client as app_client
from tests.helpers.clients import details, heat_maps, split, verdict
from tests.helpers.record_schema import COMPARISON
from tests.helpers.servers import serve

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def same(tiny_dir):
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_spec

    bf16 = str(tiny_dir / "bf16")
    specs = [
        cpu_spec("BF16-a", bf16, core=0, kv_cache_bytes=256 * 2**20, tiny=True),
        cpu_spec("BF16-b", bf16, core=1, kv_cache_bytes=256 * 2**20, tiny=True, reference=True),
    ]
    with serve(specs, GenerationSettings(max_tokens=96, ignore_eos=True)) as served:
        yield served


def test_same_checkpoint_on_both_sides_agrees_token_for_token(same, media):
    client = app_client(same[0])
    update = client.predict({"text": "Describe it.", "files": [handle_file(str(media["image"]))]}, api_name="/respond")
    _, _, metrics = split(update)
    marks, _ = details(update)
    assert "vs BF16-b: identical (96 tokens)" in metrics[0] and "mean |Δ logprob| 0.000" in metrics[0]
    assert all(m["class_or_confidence"] is None for side in marks for m in side)  # nothing marked
    files = client.predict(api_name="/export")["value"]
    rec = json.loads(httpx.get(next(f["url"] for f in files if f["orig_name"] == "comparison.json"), timeout=10).text)
    jsonschema.validate(rec, COMPARISON)
    d = rec["turns"][0]["agreement"][0]
    assert d["first_divergence"] is None and d["token_agreement"] == 1.0 and d["exact_match"]
    assert d["mean_abs_logprob_gap"] == 0.0 and d["common_prefix_tokens"] == 96


def test_same_checkpoint_on_both_sides_cross_scores_a_flat_zero(same, report):
    client = app_client(same[0])
    update = client.predict({"text": "Describe a cat.", "files": []}, api_name="/respond")
    (heat,) = heat_maps(update)
    deltas = [float(x) for x in re.findall(r"title='Δ ([-+0-9.]+):", heat)]
    scored = len(deltas)  # up to the first image/video placeholder the random model emits, if any
    assert scored and "mean Δ log-prob <b>+0.000</b>" in heat, (heat, verdict(update))
    assert scored == 96 or f"scored up to token {scored} of 96" in heat
    files = client.predict(api_name="/export")["value"]
    rec = json.loads(httpx.get(next(f["url"] for f in files if f["orig_name"] == "comparison.json"), timeout=10).text)
    d = rec["turns"][0]["agreement"][0]
    largest = max(map(abs, deltas))
    mean = d["cross_score_mean"]
    report(f"cross-score, one checkpoint on both sides: mean Δ {mean}, largest |Δ| {largest} over {scored} tokens")
    assert largest == 0.0 and d["cross_score_mean"] == 0.0 and d["cross_score_reverse_mean"] == 0.0
