"""A stand-in for an OpenAI-compatible server that is not vLLM, in front of a real ``vllm serve``.

Contract: ``strict_openai(upstream, key, upstream_key)`` (a context manager) serves on a free local port and
yields its base URL (…/v1). It behaves as OpenAI's own API does where this app could trip: every
request needs ``Authorization: Bearer <key>`` (401 otherwise); a chat request with a field
outside OpenAI's API (``top_k``, ``return_token_ids``, ``mm_processor_kwargs``, …) is refused
with 400 naming it; there is no ``/metrics``, ``/tokenize`` or ``/health``; ``/v1/models`` lists
only ``id``, ``object``, ``created`` and ``owned_by``; streamed chunks carry no token ids. The
answers themselves come from the upstream vLLM server, so they are a real model's. ``seen``
records each chat request's fields, for tests to read.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.helpers.servers import free_port

# The /chat/completions fields of OpenAI's API this app could send (its reference, 2026).
OPENAI_CHAT_FIELDS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "n",
    "stop",
    "user",
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def _strip(line: str) -> str:
    """One server-sent event without vLLM's token ids."""
    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
        return line
    event = json.loads(line[5:])
    event.pop("prompt_token_ids", None)
    for choice in event.get("choices") or ():
        choice.pop("token_ids", None)
    return "data: " + json.dumps(event)


@contextlib.contextmanager
def strict_openai(upstream: str, key: str, upstream_key: str | None = None) -> Iterator[tuple[str, list[dict]]]:
    """Serve the stand-in (see the module's contract); yields ``(base URL, seen requests)``."""
    seen: list[dict] = []
    headers = {"Authorization": f"Bearer {upstream_key}"} if upstream_key else {}
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(10, read=None), headers=headers)

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {key}"

    async def models(request: Request):
        if not authorised(request):
            return _error(401, "Incorrect API key provided.")
        data = (await client.get("/models")).json()["data"]
        keep = ("id", "object", "created", "owned_by")
        return JSONResponse({"object": "list", "data": [{k: m[k] for k in keep if k in m} for m in data]})

    async def chat(request: Request):
        if not authorised(request):
            return _error(401, "Incorrect API key provided.")
        body = await request.json()
        seen.append(body)
        if extra := sorted(set(body) - OPENAI_CHAT_FIELDS):
            return _error(400, f"Unrecognized request argument supplied: {', '.join(extra)}")
        upstream_request = client.build_request("POST", "/chat/completions", json=body)
        response = await client.send(upstream_request, stream=True)

        async def events():
            try:
                async for line in response.aiter_lines():
                    yield _strip(line) + "\n"
            finally:
                await response.aclose()

        return StreamingResponse(events(), status_code=response.status_code, media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stand-in OpenAI server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        server.should_exit = True
        thread.join(10)
