"""Teacher-forced scores: how likely an engine finds each token of a given answer, and how two
engines' scores of the same tokens compare.

Contract: an engine's ``async score(prepared, answers, settings, token_ids, top=2)`` runs the turn's
prompt followed by ``token_ids`` through the model once (no sampling) and returns one
``TokenScore`` per token: the raw log-probability the model gave that token at its position, and
the ``top`` most likely tokens there, best first. ``compare`` lines up two engines' scores of the
same tokens: the largest log-probability gap, and which positions are decided clearly enough
(the two best tokens further apart than twice the tolerance in both engines) for the engines'
best tokens to have to agree. ``CrossScore`` is one side's answer and the reference's, each scored by
both engines (``compare.cross`` makes it; a turn's ``Exchange`` keeps it). Pure; no engine is
imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenScore:
    token: int  # the token that stood at this position
    logprob: float  # its raw log-probability there (before any sampling setting)
    top: tuple[tuple[int, float], ...]  # the most likely tokens there, (id, log-probability), best first

    @property
    def best(self) -> int:
        return self.top[0][0]

    @property
    def margin(self) -> float:
        """How far the best token stands above the second best, in nats (infinite with one)."""
        return self.top[0][1] - self.top[1][1] if len(self.top) > 1 else float("inf")


@dataclass(frozen=True)
class ScoreComparison:
    gaps: tuple[float, ...]  # |log-probability of the same token, engine a - engine b|, per position
    decided: tuple[int, ...]  # positions whose best token is clear in both engines (see ``compare``)
    disagreements: tuple[int, ...]  # decided positions where the two engines' best tokens differ

    @property
    def largest_gap(self) -> float:
        return max(self.gaps, default=0.0)

    def summary(self) -> str:
        n = len(self.gaps)
        return (
            f"{len(self.decided)}/{n} positions decided, {len(self.disagreements)} best-token disagreements, "
            f"largest |Δ log-prob| {self.largest_gap:.4f}"
        )


def compare(a: Sequence[TokenScore], b: Sequence[TokenScore], tolerance: float) -> ScoreComparison:
    """Two engines' scores of the same tokens. A position is *decided* when in both engines the
    best token leads the second by more than ``2 * tolerance``: engines whose log-probabilities
    agree within ``tolerance`` cannot then rank those two tokens differently."""
    if [s.token for s in a] != [s.token for s in b]:
        raise ValueError("the two scores are not of the same tokens")
    gaps = tuple(abs(x.logprob - y.logprob) for x, y in zip(a, b, strict=True))
    decided = tuple(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if min(x.margin, y.margin) > 2 * tolerance)
    return ScoreComparison(gaps, decided, tuple(i for i in decided if a[i].best != b[i].best))


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
