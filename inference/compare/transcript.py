"""A comparison's conversation as data: every user turn and every side's answer to it.

Contract: ``Answer`` accumulates one side's ``Chunk``s (text, token ids, log-probabilities,
metrics, why it ended) and is finished exactly once, with an optional note (an error or a
stop mark). ``Exchange`` is one user turn, the settings it was sent with, and one ``Answer``
per side; ``divergence`` compares a side with the reference side as far as both have
arrived; ``reply``/``reasoning`` split an answer the way the chat template made it; ``cross``
holds the cross-scores once both answers were scored under the other engine
(``inference.compare.cross``), ``cross_note`` why they were not. Pure data and arithmetic: no
engine, no UI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from inference.compare.divergence import Divergence, diverge
from inference.compare.metrics import Chunk, SideMetrics
from inference.compare.reasoning import Reasoned, split_reasoning
from inference.compare.scores import CrossScore
from inference.inputs.chat import FilePlan, GenerationSettings, UserTurn


@dataclass
class Answer:
    metrics: SideMetrics
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str | None = None  # vLLM's: "stop", "length"; None while streaming or when stopped
    note: str = ""  # shown under the answer: an error, a stop mark
    done: bool = False

    def add(self, chunk: Chunk, now: float) -> None:
        if self.done:  # stopped while a chunk was on its way: the answer stays as it was shown
            return
        self.text += chunk.text
        self.token_ids += chunk.token_ids
        self.logprobs += chunk.logprobs
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.metrics.add(chunk, now)

    def finish(self, now: float, note: str = "") -> None:
        if self.done:
            return
        self.done = True
        self.note = note or self.note
        self.metrics.finish(now)


@dataclass
class Exchange:
    """One user turn and every side's answer to it."""

    turn: UserTurn
    settings: GenerationSettings
    answers: list[Answer]
    files: tuple[FilePlan, ...] = ()  # this turn's files as the model sees them (size, grid, tokens)
    sent_at: float = field(default_factory=time.time)  # wall clock, for the export
    cross: dict[int, CrossScore] = field(default_factory=dict)  # by side, the reference's excepted
    cross_note: str = ""  # cross-scoring under way, or why it was skipped
    _divergence: dict[tuple[int, int], Divergence] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def start(
        cls, turn: UserTurn, settings: GenerationSettings, sides: int, now: float, files: tuple[FilePlan, ...] = ()
    ) -> Exchange:
        return cls(turn, settings, [Answer(SideMetrics(now)) for _ in range(sides)], tuple(files))

    @property
    def done(self) -> bool:
        return all(a.done for a in self.answers)

    def split(self, side: int) -> Reasoned:
        return split_reasoning(self.answers[side].text, self.settings.enable_thinking)

    def divergence(self, side: int, reference: int) -> Divergence | None:
        """``side`` against ``reference`` as far as both have arrived; ``None`` for the reference
        itself. A stopped or failed side is compared on what arrived, with no length verdict.
        Once both are done the result is kept (the aligned share costs tens of ms)."""
        if side == reference or not 0 <= reference < len(self.answers):
            return None
        if (side, reference) in self._divergence:
            return self._divergence[side, reference]
        ref, other = self.answers[reference], self.answers[side]
        ended_early = (ref.done and not ref.finish_reason) or (other.done and not other.finish_reason)
        finished = ref.done and other.done and not ended_early
        d = diverge(ref.token_ids, other.token_ids, ref.logprobs, other.logprobs, finished=finished)
        if ref.done and other.done:
            self._divergence[side, reference] = d
        return d
