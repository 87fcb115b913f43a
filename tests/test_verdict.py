"""The verdict in words, the cross-score arithmetic, the heat map and the *each alone* merge, on
crafted turns and scripted streams (no engine, no model)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from inference.compare.cross import deltas, likelier
from inference.compare.merge import stream_sides
from inference.compare.metrics import Chunk
from inference.compare.scores import CrossScore, TokenScore
from inference.compare.transcript import Exchange
from inference.compare.verdict import NOISE, RACED, verdict
from inference.engines.scoring import score_turn
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget
from ui import views
from ui.glossary import MEANINGS
from ui.settings import parse

LABELS = ["FP8", "BF16"]
WEIGHTS = [720, 1000]


def answer(ex: Exchange, side: int, ids: list[int], rate: float, start: float = 0.0) -> None:
    """Side ``side`` answers ``ids`` at ``rate`` tokens per second from ``start``, ended by the model."""
    a = ex.answers[side]
    a.metrics.started = start
    for i, t in enumerate(ids):
        last = i == len(ids) - 1
        a.add(
            Chunk(f"w{t} ", 1, token_ids=(t,), logprobs=(-0.5,), finish_reason="length" if last else None),
            start + 0.1 + i / rate,
        )
    a.finish(start + 0.1 + len(ids) / rate)


def turn(fp8: list[int], bf16: list[int], timing: str = "alone", rates=(14.0, 10.0)) -> Exchange:
    ex = Exchange.start(UserTurn("q"), GenerationSettings(timing=timing), 2, 0.0)
    answer(ex, 0, fp8, rates[0])
    answer(ex, 1, bf16, rates[1], start=5.0)
    return ex


def test_the_verdict_says_how_far_the_answers_agree_and_what_fp8_buys_when_timed_alone():
    ex = turn([*range(143), 900, 901], [*range(143), 800, 801])
    ex.cross = {0: CrossScore(tuple(range(145)), 145, (0.02,) * 145, (0.01,) * 145)}
    v = verdict([ex], LABELS, 1, WEIGHTS)
    said = " ".join(v.latest)
    assert "FP8 gave the same answer as BF16 for the first 143 tokens (99% of tokens identical)" in said
    assert "BF16 finds FP8's answer 2.0% less likely per token than FP8 does (mean Δ log-prob 0.020" in said
    assert "Timed each alone, FP8 decoded 1.4× faster than BF16 (14.0 vs 10.0 tokens/s)" in said
    assert "its weights take 0.72× the memory of BF16's" in said
    assert RACED not in said and v.session == ()  # one turn: nothing more to say for the session


def test_a_raced_turn_never_quotes_a_speed():
    ex = turn([1, 2, 3], [1, 2, 3], timing="race", rates=(30.0, 3.0))
    said = " ".join(verdict([ex], LABELS, 1, WEIGHTS).latest)
    assert "token for token (3 tokens)" in said and RACED in said
    assert not re.search(r"tokens/s|faster|slower|as fast", said)  # 10x apart, and not a word of it


def test_the_session_quotes_speed_only_from_turns_timed_alone():
    raced = turn([1, 2, 3, 4], [1, 2, 3, 4], timing="race", rates=(40.0, 4.0))
    alone = turn([1, 2, 9, 9], [1, 2, 3, 4], timing="alone", rates=(12.0, 10.0))
    alone.cross = {0: CrossScore((1, 2, 9, 9), 4, (0.0, 0.0, 0.4, 0.4), (0.0,) * 4)}
    session = " ".join(verdict([raced, alone], LABELS, 1, WEIGHTS).session)
    assert "Over 2 finished turns, FP8 gave BF16's answer exactly in 1" in session
    assert "mean Δ log-prob 0.200 over 1 cross-scored turns" in session
    assert "Timed each alone in 1 of them, FP8 decoded 1.2× faster than BF16 (median)" in session
    only_raced = " ".join(verdict([raced, raced], LABELS, 1, WEIGHTS).session)
    assert "No turn was timed each alone yet, so there is no speed claim." in only_raced
    assert "faster" not in only_raced


def test_on_the_tiny_pair_the_verdict_says_the_answers_are_noise_and_claims_no_speed_or_memory():
    ex = turn([1, 2, 3], [1, 5, 6], timing="alone", rates=(50.0, 10.0))
    v = verdict([ex, ex], LABELS, 1, WEIGHTS, tiny=True)
    said = " ".join(v.latest + v.session)
    assert v.latest[0] == NOISE and "noise" in NOISE
    assert "for the first 1 tokens" in said
    assert not re.search(r"tokens/s|faster|slower|memory of|speed claim", said)


def test_a_stopped_or_unfinished_turn_gets_no_verdict():
    ex = turn([1, 2], [1, 2])
    ex.answers[1].finish_reason = None  # stopped
    assert verdict([ex], LABELS, 1, WEIGHTS).latest == (
        "No verdict for this turn: an answer was stopped or failed, so the answers are not comparable.",
    )
    streaming = Exchange.start(UserTurn("q"), GenerationSettings(), 2, 0.0)
    assert verdict([streaming], LABELS, 1, WEIGHTS).latest == ("The verdict comes when every answer has ended.",)
    assert verdict([], LABELS, 1, WEIGHTS).latest == ()


def test_cross_score_deltas_are_writer_minus_other_and_zero_for_the_same_scores():
    a = [TokenScore(5, -0.1, ((5, -0.1),)), TokenScore(6, -1.0, ((6, -1.0),))]
    b = [TokenScore(5, -0.3, ((5, -0.3),)), TokenScore(6, -0.5, ((6, -0.5),))]
    assert deltas(a, b) == pytest.approx((0.2, -0.5))
    assert deltas(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError):
        deltas(a, b[:1])
    assert likelier(0.0) == 0.0 and likelier(0.693) == pytest.approx(0.5, abs=1e-3)


class Scorer:
    """A scripted engine that scores every token at ``logprob`` (and can wait to be cancelled)."""

    def __init__(self, logprob: float, hang: bool = False, refuse: bool = False):
        self.logprob, self.hang, self.refuse, self.cancelled = logprob, hang, refuse, 0

    async def score(self, prepared, answers, settings, token_ids, top=2):
        if self.refuse:
            raise DemoError("BF16: the remote backend does not score answers.")
        try:
            if self.hang:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return [TokenScore(t, self.logprob, ((t, self.logprob),)) for t in token_ids]


def test_score_turn_fills_the_turn_says_why_it_skips_and_ends_on_stop():
    async def run(engines, stop_after=None):
        ex = turn([1, 2, 3], [1, 2, 4])
        stop = asyncio.Event()
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, stop.set)
        await score_turn(engines, ex, prepare([UserTurn("q")]), [[], []], 1, stop)
        return ex

    ex = asyncio.run(run([Scorer(-0.2), Scorer(-0.5)]))
    assert ex.cross[0].deltas == pytest.approx((0.3,) * 3) and ex.cross[0].reverse == pytest.approx((-0.3,) * 3)
    assert ex.cross_note == ""
    refused = asyncio.run(run([Scorer(-0.2), Scorer(-0.5, refuse=True)]))
    assert refused.cross == {} and refused.cross_note.startswith("Cross-scoring skipped: BF16: the remote backend")
    hanging = [Scorer(-0.2, hang=True), Scorer(-0.5, hang=True)]
    stopped = asyncio.run(run(hanging, stop_after=0.05))
    # one request per engine at a time (the page's slots stay true): the first pair is cancelled, no more sent
    assert stopped.cross_note == "Cross-scoring stopped." and [s.cancelled for s in hanging] == [1, 1]


def test_the_heat_map_shades_each_token_by_its_delta_escapes_text_and_shows_the_mean_on_top():
    ex = turn([1, 2, 3], [1, 2, 3])
    ex.cross = {0: CrossScore((1, 2, 3), 3, (0.0, 2.5, -0.4), (0.0,) * 3)}
    words = {1: "<b>x</b>", 2: "y", 3: "\n"}
    out = views.heat(ex, 0, 1, LABELS, lambda ids: "".join(words[t] for t in ids))
    assert "mean Δ log-prob <b>+0.700</b>" in out and "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out
    assert out.count("class='heat-token'") == 3
    assert "title='Δ +2.500: BF16 finds this token 91.8% less likely than FP8'" in out
    assert "title='Δ -0.400: BF16 finds this token 49.2% more likely than FP8'" in out  # never a negative "less"
    assert "rgba(220, 38, 38, 0.85)" in out and "rgba(37, 99, 235, 0.14)" in out  # red: less likely, blue: more
    assert "full shade at |Δ| 2.500" in out  # the answer's largest
    ex.cross, ex.cross_note = {}, "Cross-scoring skipped: BF16: the remote backend does not score answers."
    assert "remote backend does not score" in views.heat(ex, 0, 1, LABELS, str)


def test_every_figure_under_a_pane_has_a_plain_meaning_and_the_timing_is_named():
    names = " ".join(name for name, _ in MEANINGS)
    for figure in ("TTFT", "tok/s", "weights", "KV cache", "first divergence", "identical tokens", "logprob"):
        assert figure in names
    raced, alone = turn([1, 2], [1, 2], timing="race"), turn([1, 2], [1, 2])
    assert views.RACE in views.describe(raced, 0, 1, LABELS) and views.ALONE in views.describe(alone, 0, 1, LABELS)


def test_the_timing_setting_parses_and_refuses_anything_else():
    chosen, _, _ = parse({"timing": "alone"}, GenerationSettings(), VideoOptions(), VisualBudget())
    assert chosen.timing == "alone"
    with pytest.raises(DemoError, match="timing 'fast' is not one of race, alone"):
        parse({"timing": "fast"}, GenerationSettings(), VideoOptions(), VisualBudget())


def test_one_at_a_time_runs_the_sides_one_after_the_other_each_from_its_own_start():
    log: list[tuple[str, int, float]] = []

    async def side(i: int):
        log.append(("start", i, time.monotonic()))
        for _ in range(3):
            await asyncio.sleep(0.01)
            yield Chunk("x", 1, token_ids=(1,))
        log.append(("end", i, time.monotonic()))

    async def run(alone: bool):
        log.clear()
        return [e async for e in stream_sides([side(0), side(1)], one_at_a_time=alone)]

    events = asyncio.run(run(True))
    assert [e[:2] for e in log] == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
    assert [e.side for e in events] == [0, 0, 0, 0, 1, 1, 1, 1]  # three chunks and the end, per side
    starts = [e.started for e in events if e.started is not None]
    assert len(starts) == 2 and starts[0] <= log[0][2] and log[1][2] <= starts[1] <= log[2][2]
    raced = asyncio.run(run(False))
    assert {e[:2] for e in log[:2]} == {("start", 0), ("start", 1)} and all(e.started is None for e in raced)


def test_a_side_on_a_remote_server_cannot_score_and_the_turn_says_so():
    """A vLLM server's chat API gives no prompt log-probabilities of a given answer: the remote
    backend refuses to score, and cross-scoring says it was skipped (the engine is never reached)."""
    from inference.engines.remote import RemoteEngine
    from inference.spec import ModelSpec

    remote = RemoteEngine(ModelSpec("BF16", "org/model", backend="remote", endpoint="http://127.0.0.1:9/v1"))
    ex = turn([1, 2, 3], [1, 2, 4])
    asyncio.run(score_turn([Scorer(-0.2), remote], ex, prepare([UserTurn("q")]), [[], []], 1, asyncio.Event()))
    assert ex.cross == {} and ex.cross_note == "Cross-scoring skipped: BF16: the remote backend does not score answers."
    assert ex.cross_note in " ".join(verdict([ex], LABELS, 1, WEIGHTS).latest)
