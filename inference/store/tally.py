"""The blind test's tally as plain arithmetic: how often viewers told FP8 from BF16, and which they preferred.

Contract: ``wilson(k, n)`` is the Wilson score interval (95 % by default) of a share of ``k`` in
``n``; ``Tally(votes, correct, preferences)`` holds the counts and ``sentence()`` says in one line
whether viewers could tell the sides apart (the interval includes chance, 50 %, or not; no
verdict under ``FEW`` votes), and
``markdown()`` is the tally as the page shows it. No database, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
CHANCE = 0.5  # a guess between two answers
FEW = 10  # below this many votes the sentence draws no conclusion
TIE, BOTH_BAD = "tie", "both bad"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the share ``k / n``; ``(0, 1)`` with no trials."""
    if not 0 <= k <= n:
        raise ValueError(f"a share needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Tally:
    votes: int = 0
    correct: int = 0  # votes whose guess named the candidate (FP8) side
    preferences: Mapping[str, int] = field(default_factory=dict)  # a side's label, TIE or BOTH_BAD -> votes
    candidate: str = "FP8"  # the side viewers guess

    @property
    def share(self) -> float | None:
        return self.correct / self.votes if self.votes else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.votes)

    def sentence(self) -> str:
        """One line: could viewers tell the sides apart? (chance inside the 95 % interval: no). The
        figure is the interval in words, never a share alone: one vote reads "anywhere from 21 % to
        100 %", not "100 %"."""
        if not self.votes:
            return "No votes yet: the first vote starts the tally."
        low, high = self.interval
        plural = "vote" if self.votes == 1 else "votes"
        span = f"anywhere from {low:.0%} to {high:.0%}".replace("%", " %")
        count = f"({self.correct} of {self.votes} {plural} guessed {self.candidate} right)"
        if self.votes < FEW:
            return f"Too few votes: the share of right guesses could be {span} {count}."
        if low <= CHANCE <= high:
            return f"Viewers could not tell them apart: right guesses {span}, which includes chance {count}."
        verdict = "could tell them apart" if low > CHANCE else "picked the wrong one more often than chance"
        return f"Viewers {verdict}: right guesses {span} {count}."

    def markdown(self) -> str:
        """The tally as the page shows it: the sentence, the guesses with their interval, the split."""
        if not self.votes:
            return f"**{self.sentence()}**"
        low, high = self.interval
        split = " · ".join(f"{name} {n} ({n / self.votes:.0%})" for name, n in self.preferences.items())
        return (
            f"**{self.sentence()}**  \n"
            f"Guessed which answer is {self.candidate}: {self.correct} of {self.votes} correct "
            f"(95 % interval {low:.0%}–{high:.0%}).  \nPreferred: {split}"
        )
