"""The report's evidence and the evidence card from crafted outcomes (no engine): answers with
known flips, cross-scores with known log-probabilities, a noise-floor control, the tiny pair's
headers for the ceiling; the card's figures are the export record's (``report.json``)."""

from __future__ import annotations

import json
import math
import re

import pytest

from inference.compare.metrics import Chunk, SideMetrics
from inference.compare.scores import CrossScore, TokenScore
from inference.compare.transcript import Answer, Exchange
from inference.engines.base import Footprint
from inference.evaluation.evaluate import Control, Outcome, Reasoning
from inference.evaluation.prompts import Prompt
from inference.evaluation.report import build, markdown, write
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.spec import cpu_pair
from tests.helpers.record_schema import REPORT

L = math.log
SETTINGS = GenerationSettings(max_tokens=8)


def answer(text: str, ids: tuple[int, ...], t0: float = 0.0, rate: float = 10.0) -> Answer:
    a = Answer(SideMetrics(t0))
    for k, t in enumerate(ids):
        last = k == len(ids) - 1
        piece = text if k == 0 else ""
        a.add(
            Chunk(piece, 1, token_ids=(t,), logprobs=(-0.1,), finish_reason="stop" if last else None),
            t0 + 0.1 + k / rate,
        )
    a.finish(t0 + 0.2 + len(ids) / rate)
    return a


def scores(ids: tuple[int, ...], p: float, q: float) -> tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]]:
    """The reference's answer scored: the reference gives each token ``p``, the side ``q`` (top-1 only)."""
    return tuple(TokenScore(t, L(p), ((t, L(p)),)) for t in ids), tuple(TokenScore(t, L(q), ((t, L(q)),)) for t in ids)


def outcome(pid: str, fp8: str, bf16: str, p: float, q: float, again: str | None = None) -> Outcome:
    """One prompt expecting "yes": FP8 replies ``fp8``, BF16 ``bf16``; BF16's answer scored at p vs q."""
    ids = (5, 6, 7)
    ex = Exchange(UserTurn(pid), SETTINGS, [answer(fp8, ids, rate=20.0), answer(bf16, ids)])
    ex.cross[0] = CrossScore(ids, 3, (0.0,) * 3, (0.0,) * 3, scores(ids, p, q))
    same = scores(ids, p, p)
    floor = Control(answer(again if again is not None else bf16, ids), same[0], same[1])
    thought = (Reasoning(12, 1.0), Reasoning(9, 0.5))  # FP8 reasons 3 tokens longer
    return Outcome(Prompt(pid, pid, expect=("yes",)), ex, control=floor, reasoning=thought)


@pytest.fixture(scope="module")
def report(tiny_dir):
    outcomes = [
        outcome("a", "yes", "yes", 0.5, 0.5),
        outcome("b", "no", "yes", 0.5, 0.25),  # lost
        outcome("c", "yes", "no", 0.8, 0.4),  # gained
        outcome("d", "no", "yes", 0.5, 0.4),  # lost
    ]
    return build(cpu_pair(tiny_dir), [Footprint(1, 2)] * 2, outcomes, SETTINGS, "crafted.jsonl", "each alone")


def kl(p: float, q: float) -> float:
    """A top-1 position: the token at p against q, the rest pooled."""
    return p * L(p / q) + (1 - p) * L((1 - p) / (1 - q))


def test_evidence_has_the_crafted_flips_kl_agreement_and_a_zero_noise_floor(report):
    (fp8,) = report["evidence"]["sides"]
    assert (fp8["label"], fp8["against"], fp8["checked"]) == ("FP8", "BF16", 4)
    assert fp8["ref_accuracy"] == 0.75 and fp8["side_accuracy"] == 0.5
    assert fp8["recovery"] == pytest.approx(100 * 2 / 3, rel=1e-5)  # six significant digits in the record
    assert (fp8["flips_lost"], fp8["flips_gained"], fp8["flips_p_value"]) == (2, 1, 1.0)
    per_prompt = [0.0, kl(0.5, 0.25), kl(0.8, 0.4), kl(0.5, 0.4)]
    assert fp8["kl_mean"] == pytest.approx(sum(per_prompt) / 4, rel=1e-5)
    assert fp8["kl_max"] == pytest.approx(kl(0.8, 0.4), rel=1e-5) and fp8["positions"] == 12
    assert fp8["top1_agreement"] == 1.0  # one token known per position: the same best token
    noise = report["evidence"]["noise_floor"]
    assert noise["kl_mean"] == 0.0 and noise["flips_lost"] == noise["flips_gained"] == 0
    assert noise["exact_matches"] == noise["controls"] == 4 and noise["mean_token_agreement"] == 1.0
    assert fp8["kl_mean_over_noise"] is None  # a floor of exactly 0 has no ratio


def test_reasoning_length_per_side_and_the_paired_difference(report):
    fp8, bf16 = report["evidence"]["reasoning"]
    assert (fp8["median_tokens"], fp8["median_seconds_to_answer"], fp8["closed"]) == (12, 1.0, 4)
    assert (bf16["median_tokens"], bf16["median_seconds_to_answer"]) == (9, 0.5)
    assert report["evidence"]["sides"][0]["reasoning_tokens_diff"] == 3.0


def test_worst_prompts_come_first_flips_before_divergence(report):
    worst = [(w["id"], w["flip"]) for w in report["evidence"]["worst"]]
    assert worst == [("c", "gained"), ("b", "lost"), ("d", "lost"), ("a", None)]
    c = next(p for p in report["prompts"] if p["id"] == "c")
    assert c["paired"][0]["kl"] == [pytest.approx(kl(0.8, 0.4), rel=1e-5)] * 3


def test_the_ceiling_comes_from_the_tiny_pairs_headers_next_to_the_measured_speedup(report):
    fp8, bf16 = report["evidence"]["ceiling"]
    assert 1.0 < fp8["ideal_speedup"] < 2.0 and bf16["ideal_speedup"] == 1.0
    assert fp8["map"]["decode_step_bytes"] < bf16["map"]["decode_step_bytes"]
    assert fp8["measured_speedup"] == pytest.approx(2.0, rel=1e-3)  # 20 against 10 tokens/s


def test_the_report_validates_and_its_markdown_shows_the_evidence(report):
    import jsonschema

    jsonschema.validate(report, REPORT)
    md = markdown(report)
    assert "## Quality, paired (95 % intervals)" in md and "## Worst prompts first" in md
    assert "ideal batch-1 ceiling" in md and "![worst](worst.png)" in md
    assert "![worst](worst.png)" not in markdown(report, full=False)


def test_the_card_shows_the_export_records_figures(report, tmp_path):
    paths = write(report, tmp_path)
    assert [p.name for p in paths][-4:] == ["worst.png", "ceiling.png", "card.md", "card.html"]
    saved = json.loads((tmp_path / "report.json").read_text())
    card, page = (tmp_path / "card.md").read_text(), (tmp_path / "card.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    (fp8,) = saved["evidence"]["sides"]
    lo, hi = fp8["ci"]["kl_mean"]
    figures = [
        f"{fp8['kl_mean']:.3g} [{lo:.3g}–{hi:.3g}]",
        f"recovery {fp8['recovery']:.1f}",
        f"{fp8['flips_lost']} flips lost and {fp8['flips_gained']} gained",
        f"{fp8['kl_p99']:.3g}",
        f"{saved['evidence']['ceiling'][0]['ideal_speedup']:.2f}×",
        saved["evidence"]["prompt_set"]["sha256"],
        "Tiny random checkpoints",
    ]
    for figure in figures:
        assert figure in card and figure in text, figure
    assert page.count("data:image/png;base64,") == 2 and 'src="worst.png"' not in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside


class Scripted:
    """A scripted engine (fake, no model): streams ``pieces`` one token each and scores every token
    at ``logprob``; ``busy`` is what vLLM's unfinished-request count would say."""

    def __init__(self, label: str, pieces: list[str], logprob: float, reference: bool = False):
        from inference.spec import ModelSpec

        self.spec = ModelSpec(label, f"/nowhere/{label}", reference=reference)
        self.pieces, self.logprob, self.busy = pieces, logprob, 0

    def num_unfinished_requests(self) -> int:
        return self.busy

    async def stream(self, prepared, answers, settings):
        self.busy += 1
        try:
            for k, piece in enumerate(self.pieces):
                end = "length" if k == len(self.pieces) - 1 else None
                yield Chunk(piece, 1, token_ids=(10 + k,), logprobs=(-0.1,), finish_reason=end)
        finally:
            self.busy -= 1

    async def score(self, prepared, answers, settings, token_ids, top=2):
        return [TokenScore(t, self.logprob, ((t, self.logprob),)) for t in token_ids]


def test_the_run_times_the_end_of_reasoning_per_side_and_runs_the_noise_floor_on_the_reference():
    import asyncio

    from inference.evaluation.evaluate import run

    fp8 = Scripted("FP8", ["a", "b", "c", "</think>", "yes"], L(0.4))
    bf16 = Scripted("BF16", ["a", "</think>", "yes", "."], L(0.5), reference=True)
    settings = GenerationSettings(max_tokens=8, enable_thinking=True)

    async def go():
        return [o async for o in run([fp8, bf16], [Prompt("p", "q", expect=("yes",))], settings)]

    (o,) = asyncio.run(go())
    assert [r.tokens for r in o.reasoning] == [4, 2]  # up to and including </think>
    assert all(r.seconds is not None and r.seconds >= 0 for r in o.reasoning)
    assert o.control is not None and not o.control.error and o.control.answer.text == "a</think>yes."
    assert len(o.control.alone) == len(o.control.batched) == 4 and o.exchange.cross[0].reference_scores[0]
    rep = build([fp8.spec, bf16.spec], [Footprint(1, 2)] * 2, [o], settings, "s", "each alone")
    assert rep["evidence"]["sides"][0]["reasoning_tokens_diff"] == 2.0
    assert [p["flip"] for p in rep["prompts"][0]["paired"]] == [None, None]  # both right, and right again
    assert rep["prompts"][0]["paired"][0]["kl_mean"] == pytest.approx(kl(0.5, 0.4), rel=1e-5)
