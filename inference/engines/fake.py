"""A fake engine with no model, for tests and benchmarks of the page (not a backend the app offers:
it is not in ``BACKENDS``); it implements the engine contract (``base.Backend``) directly.

Contract: ``FakeFastEngine(spec, rate, delay)`` streams ``settings.max_tokens`` one-token chunks at
``rate`` per second, the first ``delay`` seconds after the request and with a prompt size, the
last with ``finish_reason`` "length"; the words it streams are ``word(token_id)`` and ``decode``
spells them back; ``score`` gives every token the log-probability the stream gave it (-0.5), so two
fakes cross-score to zero; ``prompt_tokens`` counts every prompt as ``PROMPT_TOKENS``, as ``stream``
says. It needs no vLLM and no tokenizer. Build a pool of them through the pool's constructor:
``EnginePool(specs, make=FakeFastEngine)`` (or ``make=partial(FakeFastEngine, rate=...)``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from inference.compare.metrics import Chunk
from inference.compare.scores import TokenScore
from inference.engines.base import Backend
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared
from inference.spec import ModelSpec


class FakeFastEngine(Backend):
    """Streams ``settings.max_tokens`` one-token chunks at ``rate`` per second, the first with a
    prompt size, after ``delay`` seconds."""

    PROMPT_TOKENS = 12

    def __init__(self, spec: ModelSpec, rate: float = 2000.0, delay: float = 0.0):
        super().__init__(spec)
        self.rate = rate
        self.delay = delay
        self._up = False
        self._active = 0

    def start(self) -> None:
        self._up = True

    @property
    def started(self) -> bool:
        return self._up

    @property
    def alive(self) -> bool:
        """Started and not shut down."""
        return self._up

    def _stop(self) -> None:
        self._up = False

    def prompt_tokens(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> int:
        """Every prompt counts ``PROMPT_TOKENS``, as ``stream``'s first chunk says."""
        return self.PROMPT_TOKENS

    def num_unfinished_requests(self) -> int:
        return self._active

    async def has_work(self) -> bool:
        return self._active > 0

    async def warm_up(self) -> None:
        pass

    def decode(self, token_ids: Sequence[int]) -> str:
        """The text of ``token_ids`` as ``stream`` spelt them (no tokenizer)."""
        return "".join(self.word(t) for t in token_ids)

    @staticmethod
    def word(token_id: int) -> str:
        return f"w{token_id % 10} "

    async def score(
        self,
        prepared: Prepared,
        answers: Sequence[str],
        settings: GenerationSettings,
        token_ids: Sequence[int],
        top: int = 2,
    ) -> list[TokenScore]:
        """Every token at the log-probability ``stream`` gave it (-0.5), itself its only alternative."""
        return [TokenScore(t, -0.5, ((t, -0.5),)) for t in token_ids]

    async def stream(
        self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings
    ) -> AsyncIterator[Chunk]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._up:
            raise DemoError(f"{self.spec.label}: the engine is not running.")
        fields = {f.name for f in dataclasses.fields(Chunk)}
        n = settings.max_tokens
        self._active += 1
        try:
            t0 = time.monotonic()
            for i in range(n):
                # on schedule: sleep until token i is due; behind it: still let the loop run
                await asyncio.sleep(max(0.0, t0 + i / self.rate - time.monotonic()))
                extra: dict[str, Any] = {"token_ids": (i % 1000,), "logprobs": (-0.5,)}
                if i == 0:
                    extra |= {"prompt_tokens": self.PROMPT_TOKENS, "visual_tokens": 0}
                if i == n - 1:
                    extra["finish_reason"] = "length"
                yield Chunk(text=self.word(i % 1000), tokens=1, **{k: v for k, v in extra.items() if k in fields})
        finally:
            self._active -= 1
