"""Cross-scoring run on the engines: each side's finished answer scored teacher-forced by its own
engine and by the reference side's, token by token (the figures: ``inference.compare.cross``).

Contract: ``cross_score(engines, prepared, histories, settings, answers, reference)`` runs, for
every side but the reference, its answer and then the reference's answer under both engines at once
(one request per engine at a time, as a turn's streams hold: the page's slots stay true), after the
same prompt (the side's own history for its answer, the reference's for the reference's), through
the engines' ``score`` (``inference.compare.scores``), and returns one ``CrossScore`` per side. An
answer is scored up to its first image/video placeholder token (``scorable``: it would stand for
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
from collections.abc import Sequence

from inference.compare.cross import SCORING, deltas
from inference.compare.scores import CrossScore, TokenScore
from inference.compare.transcript import Exchange
from inference.engines.base import Backend
from inference.engines.prompt import PromptViews
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared

log = logging.getLogger(__name__)


def scorable(engine: Backend, ids: Sequence[int]) -> list[int]:
    """``ids`` up to the first image/video placeholder token (the engine's ``visual_count`` says which,
    where it renders prompts with the model's tokenizer: ``PromptViews``)."""
    count = engine.visual_count if isinstance(engine, PromptViews) else None
    if count is None:
        return list(ids)
    return list(ids[: next((i for i, t in enumerate(ids) if count([t])), len(ids))])


async def cross_score(
    engines: Sequence[Backend],
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
    engines: Sequence[Backend],
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
