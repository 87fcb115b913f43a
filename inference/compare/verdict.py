"""The verdict in plain words: is each side as good as the reference, and what does it buy?

Contract: ``verdict(conversation, labels, reference, weights, tiny=...)`` turns a comparison's
exchanges (``inference.compare.transcript``) into two short lists of sentences, for the latest turn
and for the session so far. Pure: no engine, no UI. Its rules:

* agreement is the answers' common start and their share of identical tokens (``divergence``),
  and next to it the cross-score (``cross``): how much less likely the reference's model finds
  the side's own tokens, which does not cascade as agreement does once two answers part;
* speed is quoted only from turns timed *each alone* (one side, then the other); a turn raced
  (every side at once, sharing the hardware) says so and makes no speed claim;
* memory is the checkpoints' weights;
* ``tiny`` (random-weight checkpoints): the answers are noise, and speed and memory there say
  nothing about the real pair, so the verdict speaks only of how far quantisation moved the model.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from inference.compare.cross import less_likely
from inference.compare.transcript import Exchange

NOISE = (
    "These are tiny checkpoints with random weights, so both answers are noise; what is meaningful "
    "here is how far FP8 quantisation moved the same model, not what it says, and speed and memory "
    "on this machine say nothing about the 9B pair on a GPU."
)
RACED = (
    "No speed claim for this turn: the sides answered at the same time and shared the hardware "
    "(Settings → Timing → each alone times them one after the other)."
)


@dataclass(frozen=True)
class Verdict:
    latest: tuple[str, ...]  # the latest turn, in sentences
    session: tuple[str, ...]  # every finished turn so far


def _complete(ex: Exchange) -> bool:
    """Every answer ended by the model (not stopped, not failed)."""
    return ex.done and all(a.finish_reason for a in ex.answers)


def _speed(ex: Exchange, side: int, reference: int) -> float | None:
    """The side's decode rate over the reference's, when the turn was timed each alone."""
    if ex.settings.timing != "alone":
        return None
    mine, ref = ex.answers[side].metrics.decode_rate, ex.answers[reference].metrics.decode_rate
    return mine / ref if mine and ref else None


def _times(ratio: float) -> str:
    return (
        f"{ratio:.2f}× as fast as"
        if 0.95 <= ratio <= 1.05
        else f"{ratio:.1f}× faster than"
        if ratio > 1
        else (f"{1 / ratio:.1f}× slower than")
    )


def _agreement(ex: Exchange, side: int, reference: int, labels: Sequence[str]) -> str:
    me, ref = labels[side], labels[reference]
    d = ex.divergence(side, reference)
    n = len(ex.answers[reference].token_ids)
    if d is None:
        return ""
    if d.first is None:
        return f"{me} gave the same answer as {ref}, token for token ({n} tokens)."
    share = f"{d.identical:.0%} of tokens identical" if d.identical is not None else "partly identical"
    if d.first == 0:
        return f"{me}'s answer differed from {ref}'s from its first token ({share} once aligned)."
    return f"{me} gave the same answer as {ref} for the first {d.first} tokens ({share})."


def _cross(ex: Exchange, side: int, reference: int, labels: Sequence[str]) -> str:
    me, ref = labels[side], labels[reference]
    c = ex.cross.get(side)
    if c is None or c.mean is None:
        return ex.cross_note
    return (
        f"Scored token by token, {ref} finds {me}'s answer {less_likely(c.mean)} per token than "
        f"{me} does (mean Δ log-prob {c.mean:.3f}; 0 means the same model)."
    )


def _buys(ex: Exchange, side: int, reference: int, labels: Sequence[str], weights: Sequence[int | None]) -> str:
    me, ref = labels[side], labels[reference]
    parts = []
    ratio = _speed(ex, side, reference)
    if ratio is not None:
        rates = ex.answers[side].metrics.decode_rate, ex.answers[reference].metrics.decode_rate
        parts.append(
            f"timed each alone, {me} decoded {_times(ratio)} {ref} ({rates[0]:.1f} vs {rates[1]:.1f} tokens/s)"
        )
    if (mine := weights[side]) and (theirs := weights[reference]):
        parts.append(f"its weights take {mine / theirs:.2f}× the memory of {ref}'s")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _latest(
    ex: Exchange, reference: int, labels: Sequence[str], weights: Sequence[int | None], tiny: bool
) -> list[str]:
    if not ex.done:
        return ["The verdict comes when every answer has ended."]
    if not _complete(ex):
        return ["No verdict for this turn: an answer was stopped or failed, so the answers are not comparable."]
    out = []
    for side in range(len(ex.answers)):
        if side == reference:
            continue
        out += [_agreement(ex, side, reference, labels), _cross(ex, side, reference, labels)]
        if not tiny:
            out.append(_buys(ex, side, reference, labels, weights))
    if not tiny and ex.settings.timing != "alone":
        out.append(RACED)
    return [s for s in out if s]


def _session(done: Sequence[Exchange], reference: int, labels: Sequence[str], tiny: bool) -> list[str]:
    if len(done) < 2:
        return []
    out = []
    for side in range(len(labels)):
        if side == reference:
            continue
        me, ref = labels[side], labels[reference]
        # never None here (side ≠ reference)
        divergences = [d for ex in done if (d := ex.divergence(side, reference)) is not None]
        same = sum(d.first is None for d in divergences)
        shares = [s for d in divergences if (s := d.identical) is not None]
        text = f"Over {len(done)} finished turns, {me} gave {ref}'s answer exactly in {same}"
        if shares:
            text += f"; {statistics.fmean(shares):.0%} of tokens identical on average"
        means = [m for ex in done if side in ex.cross and (m := ex.cross[side].mean) is not None]
        if means:
            text += f"; mean Δ log-prob {statistics.fmean(means):.3f} over {len(means)} cross-scored turns"
        out.append(text + ".")
        if tiny:
            continue
        ratios = [r for r in (_speed(ex, side, reference) for ex in done) if r is not None]
        if ratios:
            r = statistics.median(ratios)
            out.append(f"Timed each alone in {len(ratios)} of them, {me} decoded {_times(r)} {ref} (median).")
        else:
            out.append("No turn was timed each alone yet, so there is no speed claim.")
    return out


def verdict(
    conversation: Sequence[Exchange],
    labels: Sequence[str],
    reference: int,
    weights: Sequence[int | None],
    *,
    tiny: bool = False,
) -> Verdict:
    """The latest turn's and the session's verdict (empty before the first turn)."""
    if not conversation:
        return Verdict((), ())
    latest = _latest(conversation[-1], reference, labels, weights, tiny)
    if tiny:
        latest = [NOISE, *latest]
    done = [ex for ex in conversation if _complete(ex)]
    return Verdict(tuple(latest), tuple(_session(done, reference, labels, tiny)))
