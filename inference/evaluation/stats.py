"""Paired statistics of one side against the reference over a prompt set, with their uncertainty.

Contract: pure functions over plain numbers and ``TokenScore``s (no engine, no files).

* ``positions(reference, side)``: per teacher-forced position (the same tokens scored by both
  engines), the KL divergence KL(reference ‖ side) estimated from the engines' top-k
  log-probabilities (``coarse_kl``), whether the two best tokens agree, and the reference's tail
  mass left outside the tokens both engines reported.
* ``coarse_kl``: the estimator. Each engine gives the log-probabilities of its own top-k tokens
  and of the scored token. On the tokens known in *both* (the intersection, the scored token
  always included) both probabilities are exact; every other token is pooled into one "rest"
  bucket, whose mass is exact on each side too (1 minus the known mass). The KL divergence of
  these coarsened distributions is computed exactly; by the data-processing inequality it is a
  lower bound of the full-vocabulary KL, equal to it when the known tokens hold all the mass
  (a backend that returns the whole vocabulary makes it exact). The reference's rest mass is
  reported beside it (``tail``) so a reader sees how much was pooled.
* ``Paired``: one prompt, one side against the reference: whether each answer is correct
  (``None``: unchecked), and the per-position figures.
* ``summarize(pairs)``: accuracy per side, recovery (side ÷ reference, %), flips in each
  direction (reference right → side wrong: ``lost``; the other way: ``gained``) with McNemar's
  exact test (``mcnemar_exact``: two-sided binomial test on the discordant pairs), top-1
  agreement, KL mean and percentiles 50/90/99/max over all positions, each with a 95 % percentile
  bootstrap interval (prompts resampled with replacement, both sides together: ``RESAMPLES``
  draws from a seeded generator, so a report is reproducible), and what the set's size can
  detect: ``min_flips`` (the fewest one-way flips an exact test can call significant at 5 %) as
  an accuracy gap, and the minimum detectable shift of the mean KL and of top-1 agreement
  (two-sided 5 %, power 80 %: ``(z₀.₉₇₅ + z₀.₈)·sd/√n`` over the prompts' means).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from inference.compare.scores import TokenScore

ALPHA = 0.05
Z_ALPHA, Z_POWER = 1.959963984540054, 0.8416212335729143  # two-sided 5 %, power 80 %
RESAMPLES = 1000
SEED = 0
REST_FLOOR = 1e-9  # the side's rest mass when rounding leaves none while the reference's has some
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Paired:
    """One prompt: the reference's and the side's correctness, and the teacher-forced positions."""

    ref_correct: bool | None = None
    side_correct: bool | None = None
    kl: tuple[float, ...] = ()  # per position, nats
    top1: tuple[bool, ...] = ()  # per position: the same best token
    tail: tuple[float, ...] = ()  # per position: the reference's mass outside the known tokens
    ref_reasoning: int | None = None  # reasoning tokens before the final answer (thinking on)
    side_reasoning: int | None = None

    @cached_property
    def kl_array(self) -> np.ndarray:
        """``kl`` as an array, made once (a bootstrap reads it a thousand times)."""
        return np.asarray(self.kl, dtype=float)

    @cached_property
    def top1_agreeing(self) -> int:
        return sum(self.top1)

    @property
    def kl_mean(self) -> float | None:
        return sum(self.kl) / len(self.kl) if self.kl else None

    @property
    def flip(self) -> str | None:
        """ "lost" (reference right, side wrong), "gained" (the other way) or ``None``."""
        if self.ref_correct is None or self.side_correct is None or self.ref_correct == self.side_correct:
            return None
        return "lost" if self.ref_correct else "gained"


def _known(s: TokenScore) -> dict[int, float]:
    return {**dict(s.top), s.token: s.logprob}


def coarse_kl(reference: TokenScore, side: TokenScore) -> tuple[float, float]:
    """KL(reference ‖ side) at one position over the tokens both know plus one rest bucket
    (a lower bound of the full KL, see the module's contract), and the reference's rest mass."""
    p, q = _known(reference), _known(side)
    both = p.keys() & q.keys()
    kl = sum(math.exp(p[t]) * (p[t] - q[t]) for t in both)
    p_rest = max(0.0, 1.0 - sum(math.exp(p[t]) for t in both))
    q_rest = max(REST_FLOOR, 1.0 - sum(math.exp(q[t]) for t in both))
    if p_rest > 0:
        kl += p_rest * math.log(p_rest / q_rest)
    return max(0.0, kl), p_rest


def positions(reference: Sequence[TokenScore], side: Sequence[TokenScore]) -> Paired:
    """The per-position figures of the same tokens scored by the reference's engine and the side's."""
    if [s.token for s in reference] != [s.token for s in side]:
        raise ValueError("the two scores are not of the same tokens")
    kls = [coarse_kl(r, s) for r, s in zip(reference, side, strict=True)]
    agree = tuple(r.best == s.best for r, s in zip(reference, side, strict=True))
    return Paired(kl=tuple(k for k, _ in kls), top1=agree, tail=tuple(t for _, t in kls))


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided exact McNemar test: the binomial probability, at p = ½, of a split of the
    discordant pairs at least as uneven as the one seen."""
    n = lost + gained
    if n == 0:
        return 1.0
    k = min(lost, gained)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))


def min_flips(alpha: float = ALPHA) -> int:
    """The fewest flips, all one way, that the exact test calls significant at ``alpha`` (6 at 5 %)."""
    n = 1
    while mcnemar_exact(n, 0) >= alpha:
        n += 1
    return n


def mde(values: Sequence[float]) -> float | None:
    """Minimum detectable shift of the mean of ``values`` (one per prompt): two-sided 5 %, power 80 %."""
    if len(values) < 2:
        return None
    return (Z_ALPHA + Z_POWER) * float(np.std(values, ddof=1)) / math.sqrt(len(values))


def _figures(pairs: Sequence[Paired]) -> dict[str, float | None]:
    """The headline figures of one sample of prompts (the point estimate, or one bootstrap draw)."""
    checked = [p for p in pairs if p.ref_correct is not None and p.side_correct is not None]
    ref_right, side_right = sum(bool(p.ref_correct) for p in checked), sum(bool(p.side_correct) for p in checked)
    ref_acc = ref_right / len(checked) if checked else None
    side_acc = side_right / len(checked) if checked else None
    kl = np.concatenate([p.kl_array for p in pairs]) if pairs else np.zeros(0)
    positions = sum(len(p.top1) for p in pairs)
    out: dict[str, float | None] = {
        "ref_accuracy": ref_acc,
        "side_accuracy": side_acc,
        "recovery": 100 * side_right / ref_right if checked and ref_right else None,
        "top1_agreement": sum(p.top1_agreeing for p in pairs) / positions if positions else None,
        "kl_mean": float(kl.mean()) if kl.size else None,
        "kl_max": float(kl.max()) if kl.size else None,
    }
    marks = np.percentile(kl, PERCENTILES) if kl.size else [None] * len(PERCENTILES)  # one sort for all
    for q, mark in zip(PERCENTILES, marks, strict=True):
        out[f"kl_p{q}"] = None if mark is None else float(mark)
    reasoning = [s - r for p in pairs if (s := p.side_reasoning) is not None and (r := p.ref_reasoning) is not None]
    out["reasoning_tokens_diff"] = sum(reasoning) / len(reasoning) if reasoning else None
    return out


def bootstrap(
    pairs: Sequence[Paired],
    figures: Callable[[Sequence[Paired]], dict[str, float | None]] = _figures,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, list[float] | None]:
    """A 95 % percentile interval per figure: prompts drawn with replacement ``resamples`` times."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        sample = [pairs[i] for i in rng.integers(0, len(pairs), len(pairs))] if pairs else []
        for key, value in figures(sample).items():
            if value is not None:
                draws.setdefault(key, []).append(value)
    point = figures(pairs)
    return {
        key: [float(np.percentile(draws[key], 2.5)), float(np.percentile(draws[key], 97.5))]
        if point[key] is not None and key in draws
        else None
        for key in point
    }


def summarize(pairs: Sequence[Paired], resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Every figure of the module's contract, as plain JSON types; ``ci``: the 95 % intervals."""
    point = _figures(pairs)
    checked = [p for p in pairs if p.ref_correct is not None and p.side_correct is not None]
    lost = sum(p.flip == "lost" for p in pairs)
    gained = sum(p.flip == "gained" for p in pairs)
    scored = [p for p in pairs if p.kl]
    fewest = min_flips()
    return {
        "prompts": len(pairs),
        "checked": len(checked),
        **point,
        "flips_lost": lost,
        "flips_gained": gained,
        "flip_rate": (lost + gained) / len(checked) if checked else None,
        "flips_p_value": mcnemar_exact(lost, gained),
        "min_flips_significant": fewest,
        "min_detectable_accuracy_gap": fewest / len(checked) if checked else None,
        "scored_prompts": len(scored),
        "positions": sum(len(p.kl) for p in pairs),
        "tail_mass_mean": float(np.mean([t for p in pairs for t in p.tail])) if scored else None,
        "mde_kl_mean": mde([sum(p.kl) / len(p.kl) for p in scored]),  # kl_mean (every scored pair has kl)
        "mde_top1_agreement": mde([sum(p.top1) / len(p.top1) for p in scored]),
        "ci": bootstrap(pairs, resamples=resamples, seed=seed),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` where both are known and ``b`` is not 0 (a noise floor of exactly 0 has no ratio)."""
    return None if a is None or not b else a / b
