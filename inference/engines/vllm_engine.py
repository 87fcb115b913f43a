"""One model, one in-process vLLM ``AsyncLLM``.

Contract: ``Engine(spec).start()`` builds the engine (blocking; call it from a thread with no
running event loop, before or beside the server loop that will stream from it);
``stream(prepared, answers, settings)`` is an async iterator of ``Chunk``s (text deltas with
their token counts, ``RequestOutputKind.DELTA``) for one chat turn; cancelling the consumer
aborts the vLLM request (``AsyncLLM`` aborts on ``CancelledError``, which is never swallowed
here); every engine failure reaches the caller as ``DemoError`` with the real cause chained.
``footprint`` gives the weights' size, the KV cache's capacity (vLLM's own token count) and the
quantization scheme vLLM chose (``inference.engines.quant``) once started; each chunk
carries the engine's current KV-cache use (from vLLM's scheduler stats). ``alive`` turns false
when the EngineCore process dies (vLLM's own monitor notices); ``restart()`` (blocking, like
``start``) replaces a dead engine with one of the same KV-cache size as the first start (a start
beside a live engine can measure the memory wrongly, vllm#55827), and a turn sent meanwhile is
refused on this side alone. ``score`` gives teacher-forced log-probabilities (``inference.compare.scores``).
``prompt_tokens`` counts what a turn's prompt will hold, before it is sent. ``shutdown()`` is
idempotent. ``forking()`` holds this process's heap frozen while a CPU engine forks its
EngineCore (``start`` uses it when ``spec.fork``). This module knows nothing about the UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from inference.compare.metrics import Chunk
from inference.compare.scores import TokenScore
from inference.engines.base import Backend, Footprint, weight_bytes
from inference.engines.prompt import PromptViews
from inference.engines.quant import kernel_route, vllm_scheme
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared
from inference.spec import ModelSpec

log = logging.getLogger(__name__)

_FREEZE = threading.Lock()
_forking = 0  # starts inside ``forking`` now


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """While inside, this process's objects are out of the garbage collector's reach (``gc.freeze``),
    as Python's gc docs advise before a fork without exec: an EngineCore forked inside runs ~6 full
    collections while it starts (vLLM's loader, profiler and ``freeze_gc_heap``), each through every
    object it inherited (the app's, the test runner's: ~750k) and writing to their pages. With them
    frozen, the tiny pair was ready in 6.5 s instead of 13.2 s, its EngineCores took 3.8 CPU-s instead
    of 10.7 and 460 MiB of their own memory each instead of 519 (docs/performance.md). The last of
    overlapping starts unfreezes on leaving, so this process's garbage is collected as before."""
    global _forking
    with _FREEZE:
        _forking += 1
        gc.freeze()
    try:
        yield
    finally:
        with _FREEZE:
            _forking -= 1
            if not _forking:
                gc.unfreeze()


KERNEL_REPORT = "inference.engines.cpu_fp8.KernelReport"  # vLLM worker extension (``fp8_kernels``)


def _kv_watch(engine: Engine) -> Callable[..., Any]:
    """A vLLM stat-logger factory that keeps ``engine.kv_usage`` current (0..1)."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class KvWatch(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0):
            pass

        def record(
            self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None, engine_idx: int = 0
        ) -> None:
            if scheduler_stats is not None:
                engine.kv_usage = scheduler_stats.kv_cache_usage

        def log_engine_initialized(self) -> None:
            pass

    return lambda vllm_config, engine_index=0: KvWatch(vllm_config, engine_index)


class Engine(PromptViews, Backend):
    """A started-on-demand vLLM engine for one ``ModelSpec`` (rendering and counting: ``PromptViews``;
    state and restart: ``Backend``). ``kv_usage``: the latest use the scheduler reported."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self._llm: Any = None
        self._blocks: int | None = None  # KV-cache blocks of the first start; a restart gets as many

    def start(self) -> None:
        """Create the ``AsyncLLM`` (spawns its EngineCore process) and load the chat template."""
        os.environ.update(self.spec.env)  # read by vLLM while the engine's process starts
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        # KernelReport: the workers can say which linear kernels the loaded layers run (``read_kernels``)
        args = AsyncEngineArgs(model=self.spec.model, worker_extension_cls=KERNEL_REPORT, **self.spec.engine_args)
        if self._blocks is not None:  # a restart: the KV cache its first start measured (vllm#55827)
            args.num_gpu_blocks_override = self._blocks
        self.load_tokenizer(AutoTokenizer.from_pretrained(self.spec.model))
        config = args.create_engine_config()
        if self.spec.fork:  # the CPU platform sets "spawn" while creating the config
            os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = "fork"
        with forking() if self.spec.fork else contextlib.nullcontext():
            self._llm = AsyncLLM.from_vllm_config(config, stat_loggers=[_kv_watch(self)])
        self.collectors = vllm_collectors()
        if self.closed:  # shut down while this start was under way (a restart during exit)
            self._stop()
            return
        # The EngineCore wrote its measured capacity back here: its blocks, and the tokens they hold
        # as vLLM counts them for a hybrid model (the Gated DeltaNet states share the blocks, so
        # blocks x block size overstates it), the count it logs as "KV cache size: N tokens".
        cache = config.cache_config
        self._blocks = self._blocks or cache.num_gpu_blocks or None
        tokens = getattr(cache, "kv_cache_size_tokens", None)
        self.footprint = Footprint(weight_bytes(self.spec.model), tokens, vllm_scheme(config))
        log.info("engine %s ready: %s", self.spec.title, self.footprint)

    @property
    def started(self) -> bool:
        return self._llm is not None

    @property
    def alive(self) -> bool:
        """Started, and its EngineCore still running (vLLM's monitor thread marks a dead one)."""
        return self._llm is not None and not self._llm.errored

    async def stream(
        self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings
    ) -> AsyncIterator[Chunk]:
        """Yield the answer as vLLM produces it; the first chunk also gives the prompt's size. The chunks'
        text, joined, is ``decode`` of their token ids (the last chunk says what vLLM held back)."""
        if self.restarting:
            raise DemoError(
                f"{self.spec.label}: the engine stopped and is restarting; this side skips this turn. "
                "The status line says when it is back."
            )
        if self._llm is None:
            raise DemoError(f"{self.spec.label}: the engine is not running.")
        if self._llm.errored:
            raise DemoError(f"{self.spec.label}: the engine stopped; it restarts on its own in a moment.")
        from vllm import SamplingParams
        from vllm.platforms import current_platform
        from vllm.sampling_params import RequestOutputKind

        seed: int | None = settings.seed
        if seed is not None and settings.temperature > 0 and prepared.multi_modal_data and current_platform.is_cpu():
            # vLLM 0.32's CPU runner dies on a seeded sampled request whose prefill it splits, as it
            # splits an image turn's here ("CPU Generator does not use offset"): a denial of service
            # any visitor could send. Such a turn samples from the engine's own random state instead.
            log.info("%s: a sampled media turn on CPU runs without its seed (vLLM 0.32)", self.spec.label)
            seed = None
        params = SamplingParams(
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            seed=seed,
            presence_penalty=settings.presence_penalty,
            repetition_penalty=settings.repetition_penalty,
            logprobs=0,  # the chosen token's own log-probability, for the divergence figures
            ignore_eos=settings.ignore_eos,
            output_kind=RequestOutputKind.DELTA,
        )
        prompt: dict[str, Any] = {"prompt": self.render(prepared, answers, settings)}
        if prepared.multi_modal_data:
            prompt["multi_modal_data"] = prepared.multi_modal_data
            prompt["mm_processor_kwargs"] = prepared.processor_kwargs
        request_id = f"{self.spec.label}-{uuid.uuid4().hex[:12]}"
        with self._failures():
            first = True
            said: list[str] = []  # the text streamed so far, and its token ids
            made: list[int] = []
            async for output in self._llm.generate(prompt, params, request_id):
                completion, ids = output.outputs[0], output.prompt_token_ids
                new = tuple(completion.token_ids)
                logprobs = tuple(
                    entry[t].logprob for t, entry in zip(new, completion.logprobs or (), strict=False) if t in entry
                )
                finish, kv = completion.finish_reason, self.kv_usage
                text = completion.text
                said.append(text)
                made += new
                if finish:  # vLLM holds back a last token's incomplete UTF-8 for good: it ends as decode says (�)
                    shown, whole = "".join(said), self.decode(made)
                    text += whole[len(shown) :] if whole.startswith(shown) else ""
                piece = Chunk(text, len(new), token_ids=new, logprobs=logprobs, finish_reason=finish, kv_usage=kv)
                if first and ids is not None:  # the prompt's size, once
                    yield dataclasses.replace(
                        piece, prompt_tokens=len(ids), visual_tokens=self.visual_count(ids), prompt_token_ids=tuple(ids)
                    )
                elif text or new or completion.finish_reason:
                    yield piece
                first = False

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        """vLLM's failures of one request as the ``DemoError`` a user reads (the cause chained);
        cancellation passes through untouched, so vLLM aborts the request."""
        from vllm.exceptions import VLLMClientError
        from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

        try:
            yield
        except EngineDeadError as err:
            raise DemoError(
                f"{self.spec.label}: the engine stopped while answering ({err.__cause__ or err}); "
                "it restarts on its own, and the other side is not affected."
            ) from err
        except EngineGenerateError as err:
            cause = err.__cause__ or err
            raise DemoError(f"{self.spec.label}: the request failed: {cause}") from err
        except (VLLMClientError, ValueError, TypeError) as err:  # rejected while processing the input
            raise DemoError(f"{self.spec.label}: the input was refused: {err}") from err

    async def score(
        self,
        prepared: Prepared,
        answers: Sequence[str],
        settings: GenerationSettings,
        token_ids: Sequence[int],
        top: int = 2,
    ) -> list[TokenScore]:
        """Teacher-forced scores of ``token_ids`` after this turn's prompt (``inference.compare.scores``):
        one prefill with vLLM's prompt log-probabilities, no sampling."""
        if not self.alive:
            raise DemoError(f"{self.spec.label}: the engine is not running.")
        self.check_scorable(token_ids)
        from vllm import SamplingParams

        ids = self._tokenizer.encode(self.render(prepared, answers, settings), add_special_tokens=False)
        prompt: dict[str, Any] = {"prompt_token_ids": ids + list(token_ids)}  # vLLM expands each placeholder
        if prepared.multi_modal_data:
            prompt["multi_modal_data"] = prepared.multi_modal_data
            prompt["mm_processor_kwargs"] = prepared.processor_kwargs
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=top, detokenize=False)
        request_id = f"{self.spec.label}-score-{uuid.uuid4().hex[:12]}"
        with self._failures():
            final = [output async for output in self._llm.generate(prompt, params, request_id)][-1]
        entries = final.prompt_logprobs[len(final.prompt_token_ids) - len(token_ids) :] if token_ids else []
        scores = []
        for token, entry in zip(token_ids, entries, strict=True):
            best = sorted(((t, p.logprob) for t, p in entry.items() if p.rank <= top), key=lambda x: -x[1])
            scores.append(TokenScore(token, entry[token].logprob, tuple(best[:top])))
        return scores

    async def warm_up(self) -> None:
        """Run what vLLM compiles lazily before a user waits on it.

        vLLM ``torch.compile``s the log-probability rank op on first use, then once more for
        the first new batch shape (~2 s each): one request alone, then two at once. On the CPU
        pair nothing compiles (``inference.spec.CPU_PROCESS_ENV``) and this takes ~0.2 s.
        Call it from the event loop that will stream.
        """
        if self._llm is None:
            return
        await self.read_kernels()
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=2, logprobs=0)

        async def one() -> None:
            async for _ in self._llm.generate({"prompt": "Hello"}, params, f"warm-up-{uuid.uuid4().hex[:8]}"):
                pass

        for batch in (1, 2):
            await asyncio.gather(*(one() for _ in range(batch)))

    async def read_kernels(self) -> None:
        """Ask the workers which linear kernels the quantized layers run (vLLM's choice, made while
        loading), and on CPU which GEMMs the linear layers run, and record them, in words, in ``footprint``."""
        from collections import Counter
        from dataclasses import replace

        from vllm.platforms import current_platform

        async def counted(method: str) -> Counter[str]:  # a ``KernelReport`` method, all workers together
            return sum((Counter(worker or {}) for worker in await self._llm.collective_rpc(method)), Counter())

        counts = await counted("fp8_kernels")
        kernel, route, emulated = kernel_route(dict(counts), cpu=current_platform.is_cpu())
        gemms = await counted("cpu_gemms") if current_platform.is_cpu() else Counter()
        gemm = " + ".join(name for name, _ in gemms.most_common()) or None
        self.footprint = replace(self.footprint, kernel=kernel, route=route, emulated=emulated, gemm=gemm)
        log.info("engine %s runs its quantized layers with %s", self.spec.title, dict(counts) or "no quantized kernel")
        log.info("engine %s runs its linear layers' matmuls with %s", self.spec.title, dict(gemms) or "no CPU GEMM")

    def num_unfinished_requests(self) -> int:
        return 0 if self._llm is None else self._llm.get_num_unfinished_requests()

    async def has_work(self) -> bool:
        """Whether the EngineCore still holds any request (aborted ones included)."""
        if self._llm is None:
            return False
        return bool(await self._llm.engine_core.call_utility_async("has_work"))

    def _stop(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.shutdown()
            log.info("engine %s shut down", self.spec.title)


def vllm_collectors() -> list[Any]:
    """The ``vllm:`` metrics in Prometheus' default registry now: those of the engine created last.
    vLLM registers each engine's metrics there and unregisters every earlier engine's when the next
    one starts (``unregister_vllm_metrics``), so an engine takes its own right after it starts."""
    from prometheus_client import REGISTRY

    return [c for c in list(REGISTRY._collector_to_names) if getattr(c, "_name", "").startswith("vllm:")]
