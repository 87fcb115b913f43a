"""Cross-scoring: each side's finished answer scored teacher-forced by its own engine and by the
reference side's, token by token.

Contract: ``cross_score(engines, prepared, histories, settings, answers, reference)`` runs, for
every side but the reference, its answer and then the reference's answer under both engines at once
(one request per engine at a time, as a turn's streams hold: the page's slots stay true), after the
same prompt (the side's own history for its answer, the reference's for the reference's), through
the engines' ``score`` (``inference.compare.scores``), and returns one ``CrossScore`` per side. Δ of
a token is how much less likely the other engine finds it than the engine that wrote it (log-probability,
nats): 0 for the same model, positive when the other model would not have said it as
readily. An answer is scored up to its first image/video placeholder token (which would stand for
visual features no prompt has; a random model emits them). Cancelling it cancels the prefills (vLLM
aborts them); an engine that cannot score raises its ``DemoError``. ``score_turn`` does it for a
finished ``Exchange`` and keeps the result on it (``cross``) or says why not (``cross_note``); a
``stop`` event ends it early; ``top`` (default 2) is how many most likely tokens each scored position
keeps, and the reference's answer as both engines scored it stays on the ``CrossScore``
(``reference_scores``, for the evaluation's KL divergence). No UI here.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inference.compare.scores import TokenScore
from inference.compare.transcript import Exchange
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared

log = logging.getLogger(__name__)

SCORING = "Cross-scoring: each answer is being scored under the other model…"


@dataclass(frozen=True)
class CrossScore:
    """One side's answer against the reference's model, and the reference's answer against this side's."""

    token_ids: tuple[int, ...]  # this side's answer, as far as it was scored
    answer_tokens: int  # the whole answer's length (more than ``token_ids``: cut at a placeholder)
    deltas: tuple[float, ...]  # per token: log p(own engine) - log p(reference engine)
    reverse: tuple[float, ...]  # the reference's answer, per token: log p(reference) - log p(this side)
    # the reference's answer as each engine scored it (top-k per position): (reference's, this side's)
    reference_scores: tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]] = ((), ())

    @property
    def mean(self) -> float | None:
        return sum(self.deltas) / len(self.deltas) if self.deltas else None

    @property
    def reverse_mean(self) -> float | None:
        return sum(self.reverse) / len(self.reverse) if self.reverse else None


def deltas(writer: Sequence[TokenScore], other: Sequence[TokenScore]) -> tuple[float, ...]:
    """Per token, how much less likely ``other`` finds it than ``writer`` (the engine whose answer it is)."""
    if [s.token for s in writer] != [s.token for s in other]:
        raise ValueError("the two scores are not of the same tokens")
    return tuple(w.logprob - o.logprob for w, o in zip(writer, other, strict=True))


def scorable(engine: Any, ids: Sequence[int]) -> list[int]:
    """``ids`` up to the first image/video placeholder token (the engine's ``visual_count`` says which)."""
    count = getattr(engine, "visual_count", None)
    if count is None:
        return list(ids)
    return list(ids[: next((i for i, t in enumerate(ids) if count([t])), len(ids))])


def likelier(delta: float) -> float:
    """A mean Δ (nats per token) as the share by which the other model finds a token less likely."""
    return 1 - math.exp(-delta)


def less_likely(delta: float) -> str:
    """``likelier`` in words: "0.8% less likely" for Δ > 0, "0.5% more likely" for Δ < 0 (never a negative "less")."""
    share = likelier(delta)
    return f"{share:.1%} less likely" if share >= 0 else f"{-share:.1%} more likely"


async def cross_score(
    engines: Sequence[Any],
    prepared: Prepared,
    histories: Sequence[Sequence[str]],
    settings: GenerationSettings,
    answers: Sequence[Sequence[int]],
    reference: int,
    top: int = 2,
) -> dict[int, CrossScore]:
    """Every side's ``CrossScore`` against ``reference`` (by side; the reference has none).

    ``histories``: each side's earlier replies (its prompt); ``answers``: each side's answer token ids;
    ``top``: how many most likely tokens each position keeps (the evaluation's KL wants more than 2).
    """
    ref = engines[reference]

    async def pair(side: int, answer: int) -> tuple[list[TokenScore], list[TokenScore]]:
        """Side ``answer``'s tokens under ``side``'s engine and the reference's, after the writer's prompt."""
        ids, history = scorable(engines[answer], answers[answer]), histories[answer]
        if not ids:
            return [], []
        a, b = await asyncio.gather(
            engines[side].score(prepared, history, settings, ids, top),
            ref.score(prepared, history, settings, ids, top),
        )
        return a, b

    out = {}
    for side in (i for i in range(len(engines)) if i != reference):
        own, under_ref = await pair(side, side)
        by_side, by_ref = await pair(side, reference)
        ids = tuple(s.token for s in own)
        reverse = deltas(by_ref, by_side)
        out[side] = CrossScore(
            ids, len(answers[side]), deltas(own, under_ref), reverse, (tuple(by_ref), tuple(by_side))
        )
    return out


async def score_turn(
    engines: Sequence[Any],
    ex: Exchange,
    prepared: Prepared,
    histories: Sequence[Sequence[str]],
    reference: int,
    stop: asyncio.Event,
    top: int = 2,
) -> None:
    """Cross-score ``ex``'s finished answers into ``ex.cross``; ``ex.cross_note`` says why not when
    an answer was stopped or failed, an engine cannot score, or ``stop`` was set first."""
    if not all(a.finish_reason for a in ex.answers):
        ex.cross_note = "Cross-scoring skipped: an answer was stopped or failed."
        return
    ex.cross_note = SCORING
    answers = [a.token_ids for a in ex.answers]
    work = asyncio.ensure_future(cross_score(engines, prepared, histories, ex.settings, answers, reference, top))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:  # Stop, Clear or a closed tab: the prefills are cancelled (vLLM aborts them)
        for task in (work, stopped):
            task.cancel()
        await asyncio.gather(work, stopped, return_exceptions=True)
    if work.cancelled():
        ex.cross_note = "Cross-scoring stopped."
    elif isinstance(work.exception(), DemoError):
        ex.cross_note = f"Cross-scoring skipped: {work.exception()}"
    elif work.exception() is not None:  # stays on this line of the page; the answers are kept
        log.error("cross-scoring failed", exc_info=work.exception())
        ex.cross_note = f"Cross-scoring failed: {work.exception()!r}"
    else:
        ex.cross, ex.cross_note = work.result(), ""
