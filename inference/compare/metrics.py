"""What one side of a turn cost, measured as its stream arrives.

Contract: ``Chunk`` is one streamed piece of an answer (text, the new token ids and their
log-probabilities, and on the first chunk the prompt's size and token ids; on the last, why it ended);
``SideMetrics`` accumulates chunks against a monotonic clock and derives time to first
token, decode rate, total time and the tokens-over-time series. Pure: the caller passes the
clock readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    """One streamed piece of one side's answer, as every engine yields it (``Backend.stream``): the
    new text and tokens; the prompt's size and ids on the first piece; why it ended on the last."""

    text: str  # the new text (may be empty while a character is incomplete)
    tokens: int  # new tokens in this piece (text may be empty while a character is incomplete)
    prompt_tokens: int | None = None  # on the first piece: the whole prompt, visual tokens included
    visual_tokens: int | None = None  # image and video placeholder tokens in that prompt
    token_ids: tuple[int, ...] = ()  # the new tokens (empty where the engine gives none)
    logprobs: tuple[float, ...] = ()  # the log-probability each new token had, if requested
    finish_reason: str | None = None  # on the last piece: "stop", "length", …
    kv_usage: float | None = None  # the engine's KV-cache use (0..1) when this piece arrived
    prompt_token_ids: tuple[int, ...] = ()  # on the first piece: the prompt as the model saw it


@dataclass
class SideMetrics:
    """One side's figures for one answer, accumulated chunk by chunk (``add``) against the clock
    readings the caller passes: time to first token, decode rate, total time, tokens over time."""

    started: float  # when the request was sent
    first: float | None = None  # first token arrived
    last: float | None = None  # latest token arrived
    ended: float | None = None
    tokens: int = 0
    prompt_tokens: int | None = None
    visual_tokens: int | None = None
    kv_peak: float | None = None  # highest KV-cache use seen while this answer streamed
    series: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, tokens so far)

    def add(self, chunk: Chunk, now: float) -> None:
        """Count ``chunk``, arrived at ``now``."""
        if chunk.prompt_tokens is not None:
            self.prompt_tokens, self.visual_tokens = chunk.prompt_tokens, chunk.visual_tokens
        if chunk.kv_usage is not None:
            self.kv_peak = max(self.kv_peak or 0.0, chunk.kv_usage)
        if chunk.tokens:
            self.first = self.first if self.first is not None else now
            self.last = now
            self.tokens += chunk.tokens
            self.series.append((now - self.started, self.tokens))

    def finish(self, now: float) -> None:
        """The answer ended at ``now`` (the first call counts)."""
        if self.ended is None:
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

    @property
    def text_tokens(self) -> int | None:
        if self.prompt_tokens is None:
            return None
        return self.prompt_tokens - (self.visual_tokens or 0)
