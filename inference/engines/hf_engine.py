"""One model in transformers (``model.generate``), behind the backend contract (``inference.engines.base``).

Contract: ``TransformersEngine(spec)`` is the "transformers" backend (see ``inference.engines.backends``):
``start()`` (blocking) loads ``AutoModelForImageTextToText`` and ``AutoProcessor``; ``stream``
renders the turn with the chat template every backend shares (``PromptViews``), feeds the same
decoded images/videos and processor kwargs vLLM gets to the model's own processor, and yields
``Chunk``s (one per token: id, raw log-probability; prompt and visual token counts on the first;
``finish_reason`` "stop"/"length" on the last). Requests are served one at a time per engine, in
arrival order (``generate`` runs one sequence; a waiting request that is cancelled never runs).
Cancelling the consumer stops ``generate`` at its next step (a stopping criterion) and its thread
ends. Failures reach the caller as ``DemoError``. Sampling follows vLLM's rules
(``inference.engines.hf_steps``), presence penalty included; the processor's inputs are
``inference.engines.hf_inputs``'. FP8 checkpoints load as ``inference.engines.hf_load`` says (FP8
matmuls on CUDA SM 8.9+, else dequantized with FP8 activations simulated). On a ZeroGPU Space the
GPU work runs inside ``spaces.GPU`` (``inference.engines.zerogpu``). Torch is imported on
``start``, not on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import threading
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from inference.compare.metrics import Chunk
from inference.compare.scores import TokenScore
from inference.engines.base import Backend, Footprint, weight_bytes
from inference.engines.hf_inputs import processor_inputs, with_tokens
from inference.engines.hf_load import load_options
from inference.engines.prompt import PromptViews
from inference.engines.zerogpu import ZEROGPU_SECONDS, gpu_seconds, zerogpu
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn, prepare
from inference.spec import ModelSpec

log = logging.getLogger(__name__)

Post = Callable[[object], None]  # hands a request's thread's pieces (or its failure, or the end) to the loop
_END = object()


@dataclass(eq=False)  # hashed by identity
class _Ticket:
    """One request: set ``stop`` to end it (waiting or running)."""

    stop: threading.Event = field(default_factory=threading.Event)


class TransformersEngine(PromptViews, Backend):
    """A transformers model for one ``ModelSpec``; rendering and counting: ``PromptViews``; state
    and restart: ``Backend`` (``kv_usage`` stays None: no fixed KV pool here)."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._eos: list[int] = []
        self._queue: deque[_Ticket] = deque()  # requests waiting or running; the first one runs
        self._turn = threading.Condition()  # one generate at a time, in arrival order
        self._threads: set[threading.Thread] = set()
        threads = spec.env.get("OMP_NUM_THREADS")
        self._torch_threads = int(threads) if threads and threads.isdigit() else None
        # before the server starts: ZeroGPU registers its GPU functions at launch
        self._pieces, self.on_zerogpu = zerogpu(self._generate, gpu_seconds)
        self._scorer, _ = zerogpu(self._forward_scores, lambda *_: ZEROGPU_SECONDS)

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

        if self._torch_threads:
            torch.set_num_threads(self._torch_threads)
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.spec.engine_args.get("dtype", "auto")
        options, scheme = load_options(self.spec.model, dtype, self._device, probe=not self.on_zerogpu)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*already has a `quantization_config` attribute.*")
            model = AutoModelForImageTextToText.from_pretrained(self.spec.model, **options)
        model = model.to(self._device).eval()
        processor = AutoProcessor.from_pretrained(self.spec.model)
        defaults = model.generation_config
        eos = defaults.eos_token_id
        self._eos = [eos] if isinstance(eos, int) else list(eos or [])
        pad = defaults.pad_token_id if defaults.pad_token_id is not None else processor.tokenizer.pad_token_id
        # only the special tokens stay: every sampling setting comes from the request (as in vLLM)
        model.generation_config = GenerationConfig(eos_token_id=self._eos, pad_token_id=pad)
        if self.closed:
            return
        self._model, self._processor = model, processor
        self.load_tokenizer(processor.tokenizer)
        self.footprint = Footprint(weight_bytes(self.spec.model), None, scheme)
        log.info("transformers engine %s ready on %s: %s", self.spec.title, self._device, self.footprint)

    @property
    def started(self) -> bool:
        return self._model is not None

    @property
    def alive(self) -> bool:
        """Loaded: the model lives in this process, so nothing can die under it."""
        return self._model is not None and not self.closed

    def _stop(self) -> None:
        for ticket in list(self._queue):
            ticket.stop.set()
        for thread in list(self._threads):
            thread.join(timeout=30)
        self._model = None

    # --- requests ------------------------------------------------------------------------

    def num_unfinished_requests(self) -> int:
        return len(self._queue)

    async def has_work(self) -> bool:
        """Whether a request's thread (waiting, or running ``generate``) is still alive."""
        return any(t.is_alive() for t in list(self._threads))

    async def warm_up(self) -> None:
        """One two-token answer, so the first user does not pay for first-use setup (not on
        ZeroGPU: it would hold a GPU at start-up)."""
        if self._model is None or self.on_zerogpu:
            return
        async for _ in self.stream(prepare([UserTurn("Hello")]), [], GenerationSettings(max_tokens=2)):
            pass

    async def stream(
        self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings
    ) -> AsyncIterator[Chunk]:
        """Yield the answer token by token; the first chunk also gives the prompt's size."""
        if self.restarting:
            raise DemoError(f"{self.spec.label}: the model is reloading; this side skips this turn.")
        if self._model is None:
            raise DemoError(f"{self.spec.label}: the model is not loaded.")
        prompt = self.render(prepared, answers, settings)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[object] = asyncio.Queue()

        def post(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
                loop.call_soon_threadsafe(out.put_nowait, item)

        ticket = _Ticket()
        context = contextvars.copy_context()  # ZeroGPU reads the Gradio request from it
        worker = threading.Thread(
            target=context.run, args=(self._serve, ticket, prompt, prepared, settings, post), daemon=True
        )
        worker.name = f"transformers-{self.spec.label}"
        with self._turn:  # queued here, on the caller's side: arrival order is call order
            self._queue.append(ticket)
        self._threads.add(worker)
        worker.start()
        try:
            while (item := await out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield cast(Chunk, item)
        finally:
            ticket.stop.set()  # cancelled or closed early: generate stops at its next step

    async def score(
        self,
        prepared: Prepared,
        answers: Sequence[str],
        settings: GenerationSettings,
        token_ids: Sequence[int],
        top: int = 2,
    ) -> list[TokenScore]:
        """Teacher-forced scores of ``token_ids`` after this turn's prompt (``inference.compare.scores``):
        one forward pass over the prompt and the tokens, in a thread."""
        if self._model is None:
            raise DemoError(f"{self.spec.label}: the model is not loaded.")
        self.check_scorable(token_ids)
        inputs = processor_inputs(self._processor, self.render(prepared, answers, settings), prepared, self.spec.label)
        return await asyncio.to_thread(self._scorer, inputs, list(token_ids), top)

    def _forward_scores(self, inputs: dict[str, Any], token_ids: list[int], top: int) -> list[TokenScore]:
        """The GPU work of ``score``: the logits at the last ``len(token_ids)`` positions."""
        import torch

        if not token_ids:
            return []
        inputs = {k: v.to(self._device) if hasattr(v, "to") else v for k, v in with_tokens(inputs, token_ids).items()}
        with torch.inference_mode():
            if self._torch_threads:
                torch.set_num_threads(self._torch_threads)
            logits = self._model(**inputs, logits_to_keep=len(token_ids) + 1).logits[0, :-1]
            logprobs = logits.float().log_softmax(-1).cpu()
        best = logprobs.topk(top, -1)
        return [
            TokenScore(t, float(row[t]), tuple(zip(ids_.tolist(), vals.tolist(), strict=True)))
            for t, row, ids_, vals in zip(token_ids, logprobs, best.indices, best.values, strict=True)
        ]

    def _serve(
        self, ticket: _Ticket, prompt: str, prepared: Prepared, settings: GenerationSettings, post: Post
    ) -> None:
        """A request's thread: wait for the engine, prepare the inputs, stream the pieces."""
        try:
            with self._turn:
                while self._queue[0] is not ticket and not ticket.stop.is_set():
                    self._turn.wait(0.05)
            if not ticket.stop.is_set():
                self._answer(ticket, prompt, prepared, settings, post)
        except DemoError as err:
            post(err)
        except Exception as err:
            log.exception("%s: transformers request failed", self.spec.label)
            failure = DemoError(f"{self.spec.label}: the request failed: {err}")
            failure.__cause__ = err
            post(failure)
        finally:
            with self._turn:
                self._queue.remove(ticket)
                self._turn.notify_all()
            self._threads.discard(threading.current_thread())
            post(_END)

    def _answer(
        self, ticket: _Ticket, prompt: str, prepared: Prepared, settings: GenerationSettings, post: Post
    ) -> None:
        from inference.engines.hf_steps import TextDeltas

        inputs = processor_inputs(self._processor, prompt, prepared, self.spec.label)
        ids = inputs["input_ids"][0].tolist()
        max_new = settings.max_tokens
        if context := self.spec.engine_args.get("max_model_len"):
            max_new = min(max_new, context - len(ids))
            if max_new < 1:
                raise DemoError(
                    f"{self.spec.label}: the prompt is {len(ids)} tokens; the model's context is {context}."
                )
        stops = set() if settings.ignore_eos else set(self._eos)
        text = TextDeltas(self._tokenizer)
        pieces, finish = self._pieces(inputs, settings, max_new), None
        try:
            for n, (token, logprob) in enumerate(pieces, 1):
                finish = "stop" if token in stops else "length" if n >= max_new else None
                delta = text.add(token) + (text.flush() if finish else "")
                chunk = Chunk(delta, 1, token_ids=(token,), logprobs=(logprob,), finish_reason=finish)
                if n == 1:  # the prompt's size, once
                    chunk = dataclasses.replace(
                        chunk, prompt_tokens=len(ids), visual_tokens=self.visual_count(ids), prompt_token_ids=tuple(ids)
                    )
                post(chunk)
                if ticket.stop.is_set() or finish:
                    break
        finally:
            pieces.close()  # stops generate (on ZeroGPU too: spaces closes the worker's generator)
        if finish is None and not ticket.stop.is_set():  # generate ended on its own, unforeseen
            post(Chunk(text.flush(), 0, finish_reason="stop"))

    def _generate(
        self, inputs: dict[str, Any], settings: GenerationSettings, max_new: int
    ) -> Generator[tuple[int, float], None, None]:
        """The GPU work: ``generate`` in a thread, its ``(token, logprob)`` steps as they come.
        Closing this generator stops ``generate`` and waits for its thread."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        from inference.engines.hf_steps import Steps, Stopped, sampling

        model = self._model
        inputs = {k: v.to(self._device) if hasattr(v, "to") else v for k, v in inputs.items()}
        steps, stop = Steps(), threading.Event()
        config = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=False,  # any draw happens in ``sampling``, from the request's own generator
            eos_token_id=[] if settings.ignore_eos else self._eos,
            pad_token_id=model.generation_config.pad_token_id,
        )
        processors = LogitsProcessorList([steps, *sampling(settings, inputs["input_ids"].shape[1])])

        def run() -> None:
            try:
                if self._torch_threads:
                    torch.set_num_threads(self._torch_threads)
                with torch.inference_mode():
                    model.generate(
                        **inputs,
                        generation_config=config,
                        logits_processor=processors,
                        stopping_criteria=StoppingCriteriaList([Stopped(stop)]),
                        streamer=steps,
                    )
            except BaseException as err:
                steps.fail(err)

        thread = threading.Thread(target=run, name=f"generate-{self.spec.label}", daemon=True)
        thread.start()
        try:
            yield from steps
        finally:
            stop.set()
            thread.join()
