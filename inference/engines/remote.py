"""One model on an OpenAI-compatible server (``vllm serve``, or another), streamed like the in-process engine.

Contract: ``RemoteEngine(spec)`` is a backend (``inference.engines.base``: all but ``score``) for
``spec.endpoint`` (the server's base URL, ``…/v1``). ``start()``
(blocking) asks the server for its model, context length and KV-cache size, and loads that
model's tokenizer where this machine can (a local folder or the Hub), else works without one;
a server that cannot be reached is a ``DemoError`` naming the URL. ``stream()`` posts the same
``Prepared`` turn as one streaming ``/chat/completions`` request (``inference.engines.remote_wire``:
media as data URLs, the same sampling settings, token ids and log-probabilities asked for; the
server must run with ``--trust-request-mm-kwargs`` for media turns); it yields ``Chunk``s as
``Engine`` does (the first one carries the prompt's size). Cancelling the consumer closes the
HTTP stream, which makes the server abort the request. A lost connection turns ``alive`` false,
so the pool's watcher calls ``restart()``, which waits for the server to answer again. Server
errors reach the caller as ``DemoError`` with the server's message.

Every request carries ``spec.api_key`` (``Authorization: Bearer``) when the side has one. A server
that is not vLLM (its ``/metrics`` has no ``vllm:`` metric) gets standard OpenAI requests only:
text and images (the server's own image budget), no videos (refused with one sentence), no
top-k, repetition penalty, thinking switch or token ids; ``cannot_show`` names what the page then
lacks, and the pool's ready line says it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from inference.compare.metrics import Chunk
from inference.engines.base import Backend, Footprint
from inference.engines.prompt import VISUAL_TOKENS
from inference.engines.remote_wire import chat_request, error_message, kv_cache_tokens, metric
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared
from inference.spec import ModelSpec, public_url

log = logging.getLogger(__name__)

CONNECT_S = 10.0  # seconds to open a connection; reading a stream has no limit (the UI's stall watch has one)
RESTART_WAIT_S = 600.0  # how long ``restart`` waits for a server that stopped answering
RESTART_POLL_S = 2.0
TEMPLATE_TOKENS_PER_FILE = 2  # Qwen's template wraps each placeholder in <|vision_start|> … <|vision_end|>
# What a side served by another OpenAI-compatible server (not vLLM) cannot give the page.
NOT_VLLM = (
    "token ids (no divergence figures)",
    "its KV-cache size",
    "videos",
    "the visual token budget",
    "top-k, repetition penalty or the thinking switch",
)


class RemoteEngine(Backend):
    """A side served by a vLLM server at ``spec.endpoint`` (``kv_usage`` stays None: the server does
    not stream it; ``score`` is refused: ``Backend``'s)."""

    def __init__(self, spec: ModelSpec):
        if not spec.endpoint:
            raise DemoError(f"{spec.label}: a remote side needs the server's URL (…/v1).")
        super().__init__(spec)
        self.url = spec.endpoint.rstrip("/")
        self.base = self.url.removesuffix("/v1")  # /tokenize, /metrics and /health live at the root
        self.shown = public_url(self.url)  # what messages say: no user:password@
        self.last_usage: dict[str, int] | None = None  # the server's usage figures for the latest finished answer
        self._started = False
        self._reachable = False
        self._tokenizer: Any = None
        self._visual_ids: frozenset[int] = frozenset()
        self._pieces: dict[int, str] = {}  # token id -> text, learned from streams (no tokenizer)
        self._in_flight = 0
        self.vllm = True  # the server is vLLM (found at start): its extensions may be used
        self._headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}

    # --- start, health ---------------------------------------------------------------------

    def _get(self, client: httpx.Client, path: str) -> httpx.Response:
        try:
            response = client.get(path)
        except httpx.HTTPError as err:
            reason = str(err) or type(err).__name__
            raise DemoError(f"{self.spec.label}: cannot reach the server at {self.shown} ({reason}).") from err
        if response.status_code >= 400:
            hint = ""
            if response.status_code in (401, 403):
                hint = (
                    " The key from --api-key-env was refused."
                    if self.spec.api_key
                    else f" Give the server's key with --api-key-env {self.spec.label}=VARIABLE."
                )
            raise DemoError(
                f"{self.spec.label}: {self.base}{path} answered {response.status_code}: "
                f"{error_message(response.content).rstrip('.')}.{hint}"
            )
        return response

    def _metrics_page(self, client: httpx.Client) -> str | None:
        """The server's ``/metrics`` page, or None where it has none (a server that is not vLLM)."""
        try:
            response = client.get("/metrics")
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    def start(self) -> None:
        """Ask the server what it serves (model, context length, KV cache) and load its tokenizer."""
        with httpx.Client(base_url=self.base, timeout=CONNECT_S, headers=self._headers) as client:
            models = self._get(client, "/v1/models").json().get("data") or []
            if not models:
                raise DemoError(f"{self.spec.label}: the server at {self.shown} serves no model.")
            card = models[0]
            page = self._metrics_page(client)
            self.vllm = page is not None and "vllm:" in page
            kv_tokens = kv_cache_tokens(page) if page is not None and self.vllm else None
            self.cannot_show = () if self.vllm else NOT_VLLM
            self._tokenizer = self._load_tokenizer(card)
            if self._tokenizer is not None:
                ids = self._tokenizer.convert_tokens_to_ids(list(VISUAL_TOKENS))
            elif not self.vllm:
                ids = []
            else:
                body = {"model": card["id"], "prompt": "".join(VISUAL_TOKENS), "add_special_tokens": False}
                ids = client.post("/tokenize", json=body).json().get("tokens", [])
            self._visual_ids = frozenset(ids) if len(ids) == len(VISUAL_TOKENS) else frozenset()
        args = {**self.spec.engine_args}
        if card.get("max_model_len"):
            args["max_model_len"] = int(card["max_model_len"])
        self.spec = replace(self.spec, model=card["id"], engine_args=args)
        self.footprint = Footprint(None, kv_tokens)
        self._started = self._reachable = True
        log.info(
            "remote %s at %s ready: %s, context %s",
            self.spec.title,
            self.shown,
            self.footprint,
            args.get("max_model_len"),
        )

    def _load_tokenizer(self, card: dict[str, Any]) -> Any:
        """The served model's tokenizer, from its folder (if this machine has it) or its Hub id; else None."""
        from transformers import AutoTokenizer

        for name in dict.fromkeys([card.get("root"), card["id"]]):
            if not name or (name.startswith((".", "/")) and not Path(name).is_dir()):
                continue
            try:
                return AutoTokenizer.from_pretrained(name)
            except Exception as err:  # not here and not on the Hub: the server tokenises instead
                log.info("no tokenizer for %s here (%s)", name, err)
        log.warning(
            "%s: no local tokenizer; prompt sizes come from the server, decoding from streamed pieces", self.spec.label
        )
        return None

    @property
    def started(self) -> bool:
        return self._started

    @property
    def alive(self) -> bool:
        """Started, and the server answered the latest request (a lost connection turns this false)."""
        return self._started and self._reachable

    def _stop(self) -> None:
        """Nothing to stop here: the server is not this app's (``shutdown`` forgets it)."""

    def _start_again(self) -> None:
        """``restart``'s start: wait (blocking) until the server answers again, then re-read what it serves."""
        deadline = time.monotonic() + RESTART_WAIT_S
        while True:
            try:
                self.start()
                return
            except DemoError:
                if self.closed or time.monotonic() > deadline:
                    raise
                time.sleep(RESTART_POLL_S)

    # --- streaming ---------------------------------------------------------------------------

    def _unreachable(self, err: Exception) -> DemoError:
        self._reachable = False
        return DemoError(
            f"{self.spec.label}: lost the server at {self.shown} ({err or type(err).__name__}); "
            "the status line says when it answers again."
        )

    async def stream(
        self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings
    ) -> AsyncIterator[Chunk]:
        """Yield the answer as the server streams it; the first chunk also gives the prompt's size."""
        if self.restarting or (self._started and not self._reachable):
            why = "is not answering; this side skips this turn."
            raise DemoError(f"{self.spec.label}: the server at {self.shown} {why}")
        if not self._started:
            raise DemoError(f"{self.spec.label}: the server at {self.shown} was not reached yet.")
        if not self.vllm and prepared.multi_modal_data.get("video"):
            raise DemoError(
                f"{self.spec.label}: the server at {self.shown} is not vLLM and takes text and images only, "
                "not videos; this side skips this turn."
            )
        body = await asyncio.to_thread(
            chat_request, self.spec.model, prepared, answers, settings, vllm=self.vllm
        )  # encodes media
        timeout = httpx.Timeout(CONNECT_S, read=None)
        self._in_flight += 1
        try:
            async with (
                httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=self._headers) as client,
                client.stream("POST", "/chat/completions", json=body) as response,
            ):
                if response.status_code >= 400:
                    message = error_message(await response.aread())
                    raise DemoError(f"{self.spec.label}: the server refused the request: {message}")
                async for chunk in self._chunks(response):
                    yield chunk
        except (httpx.TransportError, httpx.StreamError) as err:
            raise self._unreachable(err) from err
        finally:
            self._in_flight -= 1

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[Chunk]:
        """Server-sent events to ``Chunk``s: the prompt's ids (first event) ride on the first piece."""
        prompt: tuple[int | None, int | None] | None = None
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                raise DemoError(f"{self.spec.label}: the request failed on the server: {error_message(data)}")
            if event.get("usage"):
                self.last_usage = event["usage"]
            if (ids := event.get("prompt_token_ids")) is not None:
                visual = sum(1 for t in ids if t in self._visual_ids) if self._visual_ids else None
                prompt = (len(ids), visual)
            for choice in event.get("choices") or ():
                delta = choice.get("delta") or {}
                text = (delta.get("reasoning") or "") + (delta.get("content") or "")
                entries = (choice.get("logprobs") or {}).get("content") or ()
                new = tuple(choice.get("token_ids") or ())
                if len(new) == len(entries):
                    self._pieces.update((t, e.get("token", "")) for t, e in zip(new, entries, strict=True))
                piece = {
                    "token_ids": new,
                    "logprobs": tuple(e["logprob"] for e in entries),
                    "finish_reason": choice.get("finish_reason"),
                }
                count = len(new) or len(entries)
                if not (text or count or piece["finish_reason"]):
                    continue
                if prompt is not None:
                    yield Chunk(text, count, *prompt, **piece)
                    prompt = None
                else:
                    yield Chunk(text, count, **piece)

    async def warm_up(self) -> None:
        """One short request with log-probabilities, then two at once (what vLLM compiles lazily)."""
        if not self.alive:
            return
        body = {
            "model": self.spec.model,
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 2,
            "logprobs": True,
            "top_logprobs": 0,
        }
        timeout = httpx.Timeout(CONNECT_S, read=120)
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=self._headers) as client:
            for batch in (1, 2):
                await asyncio.gather(*(client.post("/chat/completions", json=body) for _ in range(batch)))

    # --- sizes, decoding, server state ---------------------------------------------------------

    def prompt_tokens(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> int:
        """The prompt's length in tokens: rendered here with the model's tokenizer (as ``Engine`` does),
        or, with no tokenizer here, the server's ``/tokenize`` of the text-only chat (a short blocking
        call) plus each file's template tokens and its planned visual tokens."""
        messages = prepared.messages(answers, system=settings.system)
        if self._tokenizer is not None:
            text = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, enable_thinking=settings.enable_thinking
            )
            ids = self._tokenizer.encode(text, add_special_tokens=False)
            return len(ids) - sum(1 for t in ids if t in self._visual_ids) + prepared.visual_tokens
        if not self.vllm:  # no /tokenize: an upper bound (a token is at least one UTF-8 byte)
            text = "".join(p.get("text", "") if isinstance(p, dict) else "" for m in messages for p in _parts(m))
            return len(text.encode()) + 64 * len(messages) + prepared.visual_tokens
        for message in messages:
            if isinstance(message["content"], list):
                message["content"] = [p for p in message["content"] if p["type"] == "text"]
        body = {
            "model": self.spec.model,
            "messages": messages,
            "chat_template_kwargs": {"enable_thinking": settings.enable_thinking},
        }
        try:
            response = httpx.post(f"{self.base}/tokenize", json=body, timeout=CONNECT_S, headers=self._headers)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
        if response.status_code >= 400:
            raise DemoError(
                f"{self.spec.label}: the server could not count the prompt: {error_message(response.content)}"
            )
        return int(response.json()["count"]) + TEMPLATE_TOKENS_PER_FILE * len(prepared.plans) + prepared.visual_tokens

    def decode(self, token_ids: Sequence[int]) -> str:
        """Token ids to text as the server detokenises (special tokens skipped); with no tokenizer
        here, the streamed pieces joined (a character split across tokens may show as �)."""
        if self._tokenizer is not None:
            return str(self._tokenizer.decode(list(token_ids), skip_special_tokens=True))
        return "".join(self._pieces.get(t, "") for t in token_ids)

    def num_unfinished_requests(self) -> int:
        """Requests this app is streaming from the server now."""
        return self._in_flight

    async def has_work(self) -> bool:
        """Whether the server runs or queues any request (from anyone: it may serve other clients); a
        server that is not vLLM does not say, so only this app's own requests count there."""
        if not self.vllm:
            return self._in_flight > 0
        async with httpx.AsyncClient(timeout=CONNECT_S, headers=self._headers) as client:
            page = (await client.get(f"{self.base}/metrics")).text
        running = (metric(page, "vllm:num_requests_running") or 0) + (metric(page, "vllm:num_requests_waiting") or 0)
        return running > 0

    def shutdown(self) -> None:
        """Forget the server (it keeps running: it is not this app's to stop); idempotent."""
        self.closed = True
        self._started = False


def _parts(message: dict[str, Any]) -> list[Any]:
    content = message["content"]
    return [{"text": content}] if isinstance(content, str) else content
