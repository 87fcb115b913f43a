"""The pieces ``model.generate`` is driven with in the transformers backend, vLLM's semantics each.

Contract: ``sampling(settings, prompt_len)`` is the logits-processor list for one request, in vLLM's
order (repetition penalty over prompt and answer, presence penalty over the answer, then, unless
greedy, temperature, top-k, top-p and a draw from the request's own seeded generator, so no global
RNG is shared between engines); ``generate`` runs greedy over its output, so a draw is the only
token left standing. ``Steps`` is both the first processor (it keeps the raw logits' log-softmax,
vLLM's ``raw_logprobs``) and the streamer: iterating it gives ``(token id, log-probability)`` per
step, from another thread, and re-raises a failure of ``generate``. ``Stopped`` ends a generation
at the next step once its event is set. ``TextDeltas`` detokenises incrementally (vLLM's
prefix/read offsets): the deltas add up to ``decode`` of all ids. Imports torch: load it lazily.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, cast

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from inference.inputs.chat import GenerationSettings

_END = object()


class Steps(LogitsProcessor, BaseStreamer):
    """Raw log-probabilities (as the first logits processor) paired with each streamed token."""

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._logprobs: torch.Tensor | None = None
        self._prompt_seen = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._logprobs = scores[0].float().log_softmax(-1)  # the raw logits, before any processor
        return scores

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate streams the prompt first
            self._prompt_seen = True
            return
        token = int(value.reshape(-1)[0])
        logprob = float(self._logprobs[token]) if self._logprobs is not None else float("nan")
        self._queue.put((token, logprob))

    def end(self) -> None:
        self._queue.put(_END)

    def fail(self, err: BaseException) -> None:
        self._queue.put(err)
        self._queue.put(_END)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield cast(tuple[int, float], item)


class Stopped(StoppingCriteria):
    """Stop at the next step once ``event`` is set (the request was cancelled)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class PresencePenalty(LogitsProcessor):
    """vLLM's (OpenAI's) presence penalty: subtract it from every token already in the answer.
    transformers has no such processor; this is the one-line rule vLLM applies."""

    def __init__(self, penalty: float, prompt_len: int):
        self.penalty, self.prompt_len = penalty, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self.prompt_len :]
        if answer.shape[1] == 0:
            return scores
        seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, answer, True)
        return scores - self.penalty * seen.to(scores.dtype)


class SeededDraw(LogitsProcessor):
    """Temperature, top-k, top-p, then one draw from this request's generator: every other token
    gets -inf, so greedy selection takes the drawn one."""

    def __init__(self, settings: GenerationSettings):
        self.warpers = [TemperatureLogitsWarper(settings.temperature)]
        if settings.top_k > 0:
            self.warpers.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(settings.top_p))
        self.seed = settings.seed
        self.generator: torch.Generator | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.generator is None:
            self.generator = torch.Generator(device=scores.device).manual_seed(self.seed)
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        drawn = torch.multinomial(scores.softmax(-1), 1, generator=self.generator)
        return torch.full_like(scores, float("-inf")).scatter_(1, drawn, 0.0)


def sampling(settings: GenerationSettings, prompt_len: int) -> LogitsProcessorList:
    processors: list[LogitsProcessor] = []
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.presence_penalty != 0.0:
        processors.append(PresencePenalty(settings.presence_penalty, prompt_len))
    if settings.temperature > 0:
        processors.append(SeededDraw(settings))
    return LogitsProcessorList(processors)


class TextDeltas:
    """Incremental detokenisation: each token's new text, held back while a character is incomplete."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = self.read = 0  # ids[prefix:read] is the context the next delta is cut from

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def add(self, token: int) -> str:
        self.ids.append(token)
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return after[len(before) :]

    def flush(self) -> str:
        """Whatever is still held back (the answer ended on an incomplete character)."""
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        self.prefix = self.read = len(self.ids)
        return after[len(before) :]
