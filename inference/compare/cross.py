"""Cross-scoring's figures: each side's finished answer scored teacher-forced by its own engine and by
the reference side's, token by token (the engines run it: ``inference.engines.scoring``).

Contract: Δ of a token (``deltas``) is how much less likely the other engine finds it than the
engine that wrote it (log-probability, nats): 0 for the same model, positive when the other model
would not have said it as readily; ``likelier``/``less_likely`` put a mean Δ in a share and in
words; ``SCORING`` is what the page says while it runs. The result per side is a
``inference.compare.scores.CrossScore``. Pure; no UI, no engine here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from inference.compare.scores import TokenScore

SCORING = "Cross-scoring: each answer is being scored under the other model…"


def deltas(writer: Sequence[TokenScore], other: Sequence[TokenScore]) -> tuple[float, ...]:
    """Per token, how much less likely ``other`` finds it than ``writer`` (the engine whose answer it is)."""
    if [s.token for s in writer] != [s.token for s in other]:
        raise ValueError("the two scores are not of the same tokens")
    return tuple(w.logprob - o.logprob for w, o in zip(writer, other, strict=True))


def likelier(delta: float) -> float:
    """A mean Δ (nats per token) as the share by which the other model finds a token less likely."""
    return 1 - math.exp(-delta)


def less_likely(delta: float) -> str:
    """``likelier`` in words: "0.8% less likely" for Δ > 0, "0.5% more likely" for Δ < 0 (never a negative "less")."""
    share = likelier(delta)
    return f"{share:.1%} less likely" if share >= 0 else f"{-share:.1%} more likely"
