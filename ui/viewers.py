"""Who a viewer is: a signed-in person, else a browser (a signed cookie), else a network address.

Contract: ``Identity(secret, proxy_hops)`` is the app's way of telling viewers apart.
``Viewers(app, identity=...)`` is ASGI middleware (``launch(app_kwargs={"middleware": ...})``): on
every HTTP request it checks the viewer cookie's signature and works out the client's address,
and keeps both in the request's state; a page load (an HTML response) without a valid cookie gets
one: a random id signed with the secret (HMAC-SHA256), HttpOnly, for ``MAX_AGE``. Gradio's
requests from that page (queue join, upload) carry it, so two tabs of one browser are one viewer
and thirty browsers behind one address are thirty. ``key(request)`` is THE viewer key of a
Gradio request: ``"hf:NAME"`` (a Hugging Face sign-in or Gradio's own auth), else
``"browser:ID"``, else ``"address:ADDR"`` (a client that never loaded the page: an API script).
``address(request)`` is the network address, for the per-address limits: ``X-Forwarded-For`` read
from the right, at most ``proxy_hops`` entries deep (each trusted proxy appends the address it saw),
and only while the address reached so far is one of ``trusted_proxies`` (addresses or networks):
a client that connects straight to the port is its peer whatever it writes in the header; never
the entry a client writes itself; 0 hops is the socket's peer (``forwarded(request)``: how many
entries there were, which from a browser is the number of proxies in front). An address is given
at most ``cookies_per_minute`` new viewer cookies a minute (a room behind one NAT loads the page
at human pace; a script mints them in a burst): beyond that the page is served without one, and
that client is its address, sharing the address's quota. ``pseudonym(key)`` names a key in logs
without revealing it (keyed by the secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference.deploy.limits import Admission, Refused
from inference.deploy.options import PRIVATE

log = logging.getLogger(__name__)

COOKIE = "demo_viewer"
MAX_AGE = 400 * 24 * 3600  # seconds: the longest a browser keeps a cookie (Chromium caps it at 400 days)


@dataclass(frozen=True)
class Identity:
    secret: bytes  # signs the viewer cookie; a new random one per start forgets every viewer at restart
    proxy_hops: int = 0  # trusted proxies in front of the app, each appending to X-Forwarded-For
    trusted_proxies: tuple[str, ...] = PRIVATE  # addresses/networks whose X-Forwarded-For entry is believed
    cookies_per_minute: int = 0  # new viewer cookies one address may get a minute; 0: no limit

    def sign(self, viewer: str) -> str:
        mac = hmac.new(self.secret, viewer.encode(), hashlib.sha256).digest()[:16]
        return f"{viewer}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def verify(self, cookie: str | None) -> str | None:
        """The viewer id of a cookie value this app signed; ``None`` for anything else."""
        viewer, _, _ = (cookie or "").rpartition(".")
        if viewer and hmac.compare_digest(self.sign(viewer), cookie or ""):
            return viewer
        return None

    def address(self, forwarded_for: list[str], peer: str | None) -> str:
        """The client's address: the socket's peer, then, while that address is a trusted proxy, the
        X-Forwarded-For entry it appended, at most ``proxy_hops`` deep (the leftmost if the chain is shorter)."""
        chain, found = entries(forwarded_for), peer or "unknown"
        for _ in range(self.proxy_hops):
            if not chain or not self.trusts(found):
                break
            found = chain.pop()
        return found

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of ``trusted_proxies``."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in _networks(self.trusted_proxies) if net.version == ip.version)

    def pseudonym(self, key: str) -> str:
        return hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()[:12]


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted if t.strip())


def entries(forwarded_for: list[str]) -> list[str]:
    """The X-Forwarded-For entries of a request's headers, in order (several headers are one list)."""
    return [e.strip() for value in forwarded_for for e in value.split(",") if e.strip()]


def cookie_header(value: str, secure: bool) -> str:
    """Over HTTPS the cookie must also work inside a Space's iframe (another site): ``SameSite=None``
    with ``Secure`` and ``Partitioned`` (kept per embedding site); over plain HTTP ``Lax``."""
    where = "Secure; SameSite=None; Partitioned" if secure else "SameSite=Lax"
    return f"{COOKIE}={value}; Max-Age={MAX_AGE}; Path=/; HttpOnly; {where}"


class Viewers:
    """ASGI middleware: the viewer and address of each request into its state; a cookie for a new
    browser (see the module's contract)."""

    def __init__(self, app: ASGIApp, identity: Identity):
        self.app = app
        self.identity = identity
        self.minted = Admission.flood(identity.cookies_per_minute)  # new cookies per address and minute
        self._swept = time.monotonic()

    def _may_mint(self, address: str) -> bool:
        """Whether ``address`` may get another new cookie now (counted when it does)."""
        if time.monotonic() - self._swept > 60:
            self.minted.forget_idle()
            self._swept = time.monotonic()
        try:
            with self.minted.admit(address):
                return True
        except Refused:
            log.info("no new viewer cookie: over %d a minute for one address", self.identity.cookies_per_minute)
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        viewer = self.identity.verify(_cookie(headers.get("cookie", ""), COOKIE))
        peer = (scope.get("client") or (None,))[0]
        state = scope.setdefault("state", {})
        state["viewer"] = viewer
        forwarded = headers.getlist("x-forwarded-for")
        state["address"] = self.identity.address(forwarded, peer)
        state["forwarded"] = len(entries(forwarded))  # from a browser: the proxies in front (the log says it)
        if viewer or scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        scheme = headers.get("x-forwarded-proto", scope.get("scheme", "http")).split(",")[0].strip()
        fresh = self.identity.sign(secrets.token_urlsafe(16))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                if out.get("content-type", "").startswith("text/html") and self._may_mint(state["address"]):
                    out.append("set-cookie", cookie_header(fresh, secure=scheme == "https"))  # the page, not its API
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _state(request: Any) -> dict[str, Any]:
    raw = getattr(request, "request", None)  # a gr.Request wraps Starlette's
    scope = getattr(raw, "scope", None) or getattr(request, "scope", None) or {}
    return scope.get("state") or {}


def signed_in(request: Any) -> str | None:
    """The signed-in name: Gradio's own auth (``request.username``) or a Hugging Face sign-in
    (Gradio's OAuth session, ``oauth_info.userinfo.preferred_username``)."""
    name = getattr(request, "username", None)
    if name:
        return str(name)
    raw = getattr(request, "request", None)
    session = (getattr(raw, "scope", None) or {}).get("session") or {}
    info = (session.get("oauth_info") or {}).get("userinfo") or {}
    return info.get("preferred_username")


def forwarded(request: Any) -> int | None:
    """How many X-Forwarded-For entries the request came with (``None`` without the middleware)."""
    return _state(request).get("forwarded")


def address(request: Any) -> str:
    """The client's network address as ``Viewers`` worked it out; without the middleware (a
    handler called directly) the peer Starlette saw, else the session."""
    found = _state(request).get("address")
    if found:
        return str(found)
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or getattr(request, "session_hash", None) or "anonymous"


def key(request: Any) -> str:
    """THE viewer key of a Gradio request (see the module's contract): a stable string."""
    name = signed_in(request)
    if name:
        return f"hf:{name}"
    viewer = _state(request).get("viewer")
    return f"browser:{viewer}" if viewer else f"address:{address(request)}"
