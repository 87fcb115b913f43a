"""The app as a ``gradio_client`` user sees it: a client, and readers of ``/respond``'s outputs.

Contract: ``client(url, address)`` is a ``gradio_client.Client`` that downloads no media (the
default would fetch every streamed file again) and, given an ``address``, says it comes from there
(``X-Forwarded-For``), and checks no certificate (the app is served over plain http on loopback;
with checking on, httpx loads the CA bundle for each of the client's requests: ~35 ms of CPU
each, several per turn); it never loads the page, so it has no viewer cookie (an API script).
``browser_client(url, address)`` loads the page first, as a browser does, and sends the viewer
cookie the page set with every request (one per browser). ``split``/``details`` cut an update of
``/respond`` into its parts; ``answers(pane)`` are a chat pane's assistant texts;
``notice(update)`` the line under the input box;
``verdict``/``heat_maps`` the verdict above the panes and the cross-score heat maps (HTML).
"""

from __future__ import annotations

import httpx
from gradio_client import Client

VIEWER_COOKIE = "demo_viewer"  # ui.viewers.COOKIE (helpers do not import ui)


def client(url: str, address: str | None = None, cookies: dict[str, str] | None = None) -> Client:
    headers = {"X-Forwarded-For": address} if address else None
    kwargs = {"cookies": cookies} if cookies else None
    return Client(url, headers=headers, download_files=False, verbose=False, ssl_verify=False, httpx_kwargs=kwargs)


def browser_client(url: str, address: str | None = None) -> Client:
    """A client with the viewer cookie a page load gave it (a new browser)."""
    headers = {"X-Forwarded-For": address} if address else {}
    page = httpx.get(url, headers=headers, timeout=30, verify=False)  # plain http on loopback (see ``client``)
    page.raise_for_status()
    return client(url, address, {VIEWER_COOKIE: page.cookies[VIEWER_COOKIE]})


def answers(pane: list[dict]) -> list[str]:
    return ["".join(p.get("text", "") for p in m["content"]) for m in pane if m["role"] == "assistant"]


def split(update, sides: int = 2):
    """``/respond`` returns the input box, then per side: panes, metrics lines, divergence views; then the plot."""
    box, *rest = update
    panes, metrics, _marks = (rest[k * sides : (k + 1) * sides] for k in range(3))
    return box, panes, metrics


def details(update, sides: int = 2):
    """The divergence views (one per side) and the tokens-over-time plot of an update (its data: a
    plot sent with its y-axis range comes as Gradio's update, ``plot_axis`` reads that range)."""
    rest = update[1:]
    plot = rest[3 * sides]
    return rest[2 * sides : 3 * sides], plot["value"] if plot.get("__type__") == "update" else plot


def plot_axis(update, sides: int = 2) -> list[float] | None:
    """The y-axis range the page set on the tokens-over-time plot (None when it set none)."""
    plot = update[1:][3 * sides]
    return plot.get("y_lim") if plot.get("__type__") == "update" else None


def verdict(update, sides: int = 2) -> str:
    """The verdict above the panes (after the box, panes, metrics lines, divergence views and plot)."""
    return update[1 + 3 * sides + 1]


def heat_maps(update, sides: int = 2) -> list[str]:
    """The cross-score heat maps, one per side but the reference, in side order."""
    start = 1 + 3 * sides + 2
    return update[start : start + sides - 1]


def notice(update) -> str:
    """The line under the input box (the last output the client sees; the conversation is state);
    "" when the update leaves it as it was (an answered turn cleared it when it started)."""
    return update[-1] if isinstance(update[-1], str) else ""
