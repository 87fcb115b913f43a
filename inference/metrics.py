"""What one side of a turn cost, measured as its stream arrives.

Contract: ``Chunk`` is one streamed piece of an answer (text, how many new tokens it holds,
and on the first chunk the prompt's size); ``SideMetrics`` accumulates chunks against a
monotonic clock and derives time to first token, decode rate and total time. Pure: the
caller passes the clock readings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int  # new tokens in this piece (text may be empty while a character is incomplete)
    prompt_tokens: int | None = None  # on the first piece: the whole prompt, visual tokens included
    visual_tokens: int | None = None  # image and video placeholder tokens in that prompt


@dataclass
class SideMetrics:
    started: float  # when the request was sent
    first: float | None = None  # first token arrived
    last: float | None = None  # latest token arrived
    ended: float | None = None
    tokens: int = 0
    prompt_tokens: int | None = None
    visual_tokens: int | None = None

    def add(self, chunk: Chunk, now: float) -> None:
        if chunk.prompt_tokens is not None:
            self.prompt_tokens, self.visual_tokens = chunk.prompt_tokens, chunk.visual_tokens
        if chunk.tokens:
            self.first = self.first if self.first is not None else now
            self.last = now
            self.tokens += chunk.tokens

    def finish(self, now: float) -> None:
        self.ended = now

    @property
    def ttft(self) -> float | None:
        return None if self.first is None else self.first - self.started

    @property
    def decode_rate(self) -> float | None:
        """Tokens per second after the first one (prefill excluded)."""
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return (self.tokens - 1) / (self.last - self.first)

    @property
    def total(self) -> float | None:
        return None if self.ended is None else self.ended - self.started
