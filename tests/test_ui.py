"""Narrow unit tests without engines: pane rendering, metrics lines, reasoning split, divergence, export.

The conversations here are made by hand (no engine, no server).
"""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from inference.compare.divergence import diverge
from inference.compare.export import markdown, record
from inference.compare.metrics import Chunk
from inference.compare.reasoning import split_reasoning
from inference.compare.transcript import Exchange
from inference.engines.base import Footprint
from inference.evaluation.evaluate import Outcome, Prompt
from inference.evaluation.report import build
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.spec import ModelSpec
from tests.helpers.record_schema import COMPARISON, REPORT
from ui.views import EMPTY, REASONING, STOPPED, describe, render

SPECS = [ModelSpec("FP8", "/x/tiny/fp8", tiny=True), ModelSpec("BF16", "/x/tiny/bf16", tiny=True, reference=True)]


def exchange(texts, ids=None, settings=GenerationSettings(), turn=UserTurn("hi", ("/tmp/a.png",))) -> Exchange:
    """A turn whose sides received ``texts`` (one chunk each, token ids given or one per character)."""
    ex = Exchange.start(turn, settings, len(texts), now=0.0)
    for i, text in enumerate(texts):
        tokens = ids[i] if ids else tuple(range(len(text)))
        chunk = Chunk(text, len(tokens), 10, 4, tuple(tokens), tuple(-0.5 for _ in tokens), "stop")
        ex.answers[i].add(chunk, now=0.1 * (i + 1))
    return ex


def test_each_pane_shows_the_shared_turn_and_its_own_answer():
    ex = exchange(["fp8 says", "bf16 says"])
    for a in ex.answers:
        a.finish(1.0)
    fp8, bf16 = render([ex], 0), render([ex], 1)
    shared = [{"role": "user", "content": {"path": "/tmp/a.png"}}, {"role": "user", "content": "hi"}]
    assert fp8[:2] == bf16[:2] == shared
    assert fp8[2]["content"] == "fp8 says" and bf16[2]["content"] == "bf16 says"


def test_pending_empty_stopped_and_failed_answers_are_told_apart():
    ex = exchange(["", "", "partial", ""])
    ex.answers[1].finish(1.0)
    ex.answers[2].finish(1.0, STOPPED)
    ex.answers[3].finish(1.0, "⚠️ BF16: boom")
    contents = [render([ex], side)[-1]["content"] for side in range(4)]
    assert contents == ["…", EMPTY, f"partial\n\n{STOPPED}", "⚠️ BF16: boom"]


def test_reasoning_is_split_from_the_reply_and_shown_as_a_collapsible_block():
    assert split_reasoning("plan</think>\n\nanswer", thinking=True).reply == "answer"
    assert split_reasoning("still planning", thinking=True).closed is False
    assert split_reasoning("plain </think> text", thinking=False).reply == "plain </think> text"
    thinking = GenerationSettings(enable_thinking=True)
    ex = exchange(["let me see</think>\n\nIt is red."], settings=thinking)
    ex.answers[0].finish(1.0)
    block, reply = render([ex], 0)[-2:]
    assert block["metadata"] == {"title": REASONING, "status": "done"} and block["content"] == "let me see"
    assert reply["content"] == "It is red."


def test_a_token_budget_spent_on_reasoning_is_said_plainly():
    ex = exchange(["hmm, first", "hmm"], settings=GenerationSettings(enable_thinking=True))
    ex.answers[0].finish_reason = "length"
    for a in ex.answers:
        a.finish(1.0)
    assert render([ex], 0)[-2]["metadata"]["status"] == "done"
    assert "went to reasoning" in render([ex], 0)[-1]["content"]
    ex.answers[1].finish_reason = "stop"  # ended by the model itself: no budget note
    assert "went to reasoning" not in render([ex], 1)[-1]["content"]


def test_divergence_finds_the_first_differing_token_and_the_aligned_share():
    d = diverge([1, 2, 3, 4, 5, 6], [1, 2, 9, 3, 4, 5, 6], [-1.0, -2.0, 0, 0, 0, 0], [-1.5, -2.0], finished=True)
    assert d.first == 2 and d.common == 2
    assert d.identical == 6 / 7  # one inserted token does not make the rest differ
    assert d.logprob_gap == 0.25  # mean of |−1.0 − −1.5| and |−2.0 − −2.0|
    assert diverge([1, 2, 3], [1, 2]).first is None  # still streaming: a prefix is no divergence yet
    assert diverge([1, 2, 3], [1, 2], finished=True).first == 2
    same = diverge([4, 5], [4, 5], [-0.1, -0.2], [-0.1, -0.2], finished=True)
    assert same.first is None and same.identical == 1.0 and same.logprob_gap == 0.0


def test_metrics_lines_show_speed_prompt_memory_and_divergence():
    ex = exchange(["abcd", "abxy"], ids=[(1, 2, 3, 4), (1, 2, 7, 8)])
    for a in ex.answers:
        a.finish(1.0)
    feet = Footprint(2_134_680, 1_048_576)
    line = describe(ex, 0, 1, ["FP8", "BF16"], feet)
    assert "4 tokens" in line and "prompt 10 tokens (4 visual, 6 text)" in line
    assert "weights 2.1 MB" in line and "KV cache 1.0M tokens" in line
    assert "vs BF16: first divergence at token 3" in line and "50% identical tokens" in line
    assert "reference" in describe(ex, 1, 1, ["FP8", "BF16"], feet)


def test_export_holds_settings_inputs_answers_metrics_and_divergence():
    ex = exchange(["abcd", "abxy"], ids=[(1, 2, 3, 4), (1, 2, 7, 8)])
    for a in ex.answers:
        a.finish(1.0)
    rec = json.loads(json.dumps(record(SPECS, [Footprint(1, 2), Footprint(3, 4)], [ex], reference=1)))
    turn = rec["turns"][0]
    assert rec["sides"][0]["model"] == "tiny/fp8" and rec["sides"][1]["reference"] is True
    assert turn["files"] == [{"name": "a.png", "kind": "image"}]  # a name, never a server path
    assert turn["settings"]["temperature"] == 0.0 and "ignore_eos" not in turn["settings"]
    assert [a["reply"] for a in turn["answers"]] == ["abcd", "abxy"]
    assert turn["answers"][0]["output_tokens"] == 4 and turn["answers"][0]["visual_tokens"] == 4
    assert turn["agreement"] == [
        {
            "label": "FP8",
            "against": "BF16",
            "tokens_compared": 4,
            "common_prefix_tokens": 2,
            "first_divergence": 2,
            "token_agreement": 0.5,
            "exact_match": False,
            "mean_abs_logprob_gap": 0.0,
            "timing": "race",
            "cross_score_mean": None,  # not cross-scored
            "cross_score_reverse_mean": None,
        }
    ]
    jsonschema.validate(rec, COMPARISON)
    md = markdown(rec)
    assert "## Turn 1" in md and "first divergence at token 3" in md and "answers are noise" in md


def test_the_report_and_the_export_hold_the_same_rows():
    ex = exchange(["abcd", "abcd"], ids=[(1, 2, 3, 4), (1, 2, 3, 4)])
    for a in ex.answers:
        a.finish(1.0)
    feet = [Footprint(1, 2), Footprint(3, 4)]
    rec = json.loads(json.dumps(record(SPECS, feet, [ex], reference=1)))
    outcome = Outcome(Prompt("p", "hi", ("/tmp/a.png",), ("abcd",)), ex)
    rep = json.loads(json.dumps(build(SPECS, feet, [outcome], GenerationSettings(), "hand-made", "each alone")))
    jsonschema.validate(rec, COMPARISON)
    jsonschema.validate(rep, REPORT)
    turn, prompt = rec["turns"][0], rep["prompts"][0]
    assert rec["sides"] == rep["sides"] and turn["files"] == prompt["files"] and turn["settings"] == rep["settings"]
    assert turn["agreement"] == prompt["agreement"]
    assert prompt["agreement"][0]["first_divergence"] is None and prompt["agreement"][0]["exact_match"] is True
    assert [{**a, "correct": True, "timed_alone": True} for a in turn["answers"]] == prompt["answers"]


def test_the_views_are_plain_python_without_gradio():
    code = "import sys, ui.views; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
