"""How large a request body the page's API reads: checked from its length, before anything parses it.

Contract: ``Bodies(app, limit=callable)`` is ASGI middleware: a POST (anything but Gradio's upload
route, which ``max_file_size`` bounds) whose body is over
``limit()`` bytes is answered 413 with one sentence, from its ``Content-Length`` and before a
byte of it is read, so megabytes of JSON are never parsed on the server's event loop; a body sent
without a length is counted as it arrives and the request is ended once it is over.
``api_limit(context)`` is the limit for a context of that many tokens: three times the text a turn
may hold (``ui.inputs.text_limit``; JSON's ``\\uXXXX`` escapes take at most three times a
character's UTF-8 bytes) plus ``SLACK`` for the settings and file references.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.inputs import text_limit

SLACK = 2**20  # bytes: a turn's settings, file references and Gradio's own fields
UPLOAD = "/gradio_api/upload"  # bounded by Gradio's max_file_size instead


def api_limit(context: int | None) -> int:
    return 3 * text_limit(context) + SLACK


class Bodies:
    """ASGI middleware: API request bodies over ``limit()`` bytes refused (see the module's contract)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or path.startswith(UPLOAD):
            return await self.app(scope, receive, send)
        most = self.limit()
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > most:
            why = (
                f"The request holds {int(length):,} bytes; this demo reads at most {most:,} bytes per request, "
                "more than the models' context can take. Send a shorter text.\n"
            )
            return await PlainTextResponse(why, 413, headers={"connection": "close"})(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > most:  # no length said, or a lie: end the request here
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)
