"""One model, one in-process vLLM ``AsyncLLM``.

Contract: ``Engine(spec).start()`` builds the engine (blocking; call it from a thread with no
running event loop, before or beside the server loop that will stream from it);
``stream(prepared, answers, settings)`` is an async iterator of ``Chunk``s (text deltas with
their token counts, ``RequestOutputKind.DELTA``) for one chat turn; cancelling the consumer
aborts the vLLM request (``AsyncLLM`` aborts on ``CancelledError``, which is never swallowed
here); every engine failure reaches the caller as ``DemoError`` with the real cause chained.
``shutdown()`` is idempotent.
This module knows nothing about the UI.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from inference.chat import GenerationSettings, Prepared
from inference.errors import DemoError
from inference.metrics import Chunk
from inference.spec import ModelSpec

VISUAL_TOKENS = ("<|image_pad|>", "<|video_pad|>")  # what each image/video patch group becomes

log = logging.getLogger(__name__)


class Engine:
    """A started-on-demand vLLM engine for one ``ModelSpec``."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self._llm: Any = None
        self._tokenizer: Any = None
        self._visual_ids: frozenset[int] = frozenset()

    def start(self) -> None:
        """Create the ``AsyncLLM`` (spawns its EngineCore process) and load the chat template."""
        os.environ.update(self.spec.env)  # read by vLLM while the engine's process starts
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(model=self.spec.model, **self.spec.engine_args)
        self._tokenizer = AutoTokenizer.from_pretrained(self.spec.model)
        self._visual_ids = frozenset(self._tokenizer.convert_tokens_to_ids(list(VISUAL_TOKENS)))
        config = args.create_engine_config()
        if self.spec.fork:  # the CPU platform sets "spawn" while creating the config
            os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = "fork"
        self._llm = AsyncLLM.from_vllm_config(config)
        log.info("engine %s ready", self.spec.title)

    def render(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> str:
        """The prompt text for one side, through the model's own chat template."""
        return self._tokenizer.apply_chat_template(
            prepared.messages(answers, system=settings.system),
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=settings.enable_thinking,
        )

    async def stream(
        self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings
    ) -> AsyncIterator[Chunk]:
        """Yield the answer as vLLM produces it; the first chunk also gives the prompt's size."""
        if self._llm is None:
            raise DemoError(f"{self.spec.label}: the engine is not running.")
        from vllm import SamplingParams
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

        params = SamplingParams(
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            seed=settings.seed,
            ignore_eos=settings.ignore_eos,
            output_kind=RequestOutputKind.DELTA,
        )
        prompt: dict[str, Any] = {"prompt": self.render(prepared, answers, settings)}
        if prepared.multi_modal_data:
            prompt["multi_modal_data"] = prepared.multi_modal_data
        request_id = f"{self.spec.label}-{uuid.uuid4().hex[:12]}"
        try:
            first = True
            async for output in self._llm.generate(prompt, params, request_id):
                completion, ids = output.outputs[0], output.prompt_token_ids
                if first and ids is not None:  # the prompt's size, once
                    visual = sum(1 for t in ids if t in self._visual_ids)
                    yield Chunk(completion.text, len(completion.token_ids), len(ids), visual)
                elif completion.text or completion.token_ids:
                    yield Chunk(completion.text, len(completion.token_ids))
                first = False
        except EngineDeadError as err:
            raise DemoError(f"{self.spec.label}: the engine stopped ({err.__cause__ or err}).") from err
        except EngineGenerateError as err:
            cause = err.__cause__ or err
            raise DemoError(f"{self.spec.label}: the request failed: {cause}") from err
        except (VLLMClientError, ValueError, TypeError) as err:  # rejected while processing the input
            raise DemoError(f"{self.spec.label}: the input was refused: {err}") from err

    def num_unfinished_requests(self) -> int:
        return 0 if self._llm is None else self._llm.get_num_unfinished_requests()

    async def has_work(self) -> bool:
        """Whether the EngineCore still holds any request (aborted ones included)."""
        if self._llm is None:
            return False
        return bool(await self._llm.engine_core.call_utility_async("has_work"))

    def shutdown(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.shutdown()
            log.info("engine %s shut down", self.spec.title)
