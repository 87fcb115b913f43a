"""Share links: a finished comparison kept in the database and shown read-only at its own address.

Contract: ``share_controls(sharer, conversation)`` adds the Share button and the line that gives the
link, inside the current Blocks (API name /share). ``Sharer(comparison, store, days).share`` keeps
the comparison as the export records it (``inference.compare.export.record``: inputs by name, both
answers, figures, divergence, settings) plus a JPEG thumbnail of each input (``THUMB`` px, a
video's first frame), under an unguessable id (``inference.store.db``), and answers with the link;
an unfinished or empty comparison, or one over the store's size cap, gets one sentence instead.
``routes(store, days)`` is the Starlette route ``/shared/{id}``: the comparison as a plain HTML
page (the export's Markdown rendered with raw HTML off, so nothing a model wrote runs as markup,
and with no link or image but the page's own thumbnails: a prompt's ``![](https://…)`` or
``[text](https://…)`` stays text) sent with a strict ``Content-Security-Policy`` (``CSP``: no
script, nothing fetched from anywhere, images only as data URLs) for any browser, no session
needed, or a 404 page that says the link is unknown or has expired.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import logging
import time
from typing import Any

import gradio as gr
from markdown_it import MarkdownIt
from PIL import Image, ImageOps
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from inference.compare.export import markdown, record
from inference.compare.transcript import Exchange
from inference.errors import DemoError
from inference.inputs.media import media_kind
from inference.store.db import Store
from ui.links import root_url
from ui.session import Comparison

log = logging.getLogger(__name__)

THUMB = 256  # px, the longer edge of an input's thumbnail
PATH = "/shared/"
THUMB_URL = "data:image/jpeg;base64,"  # the only link or image source a shared page renders
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title><style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5 }}
table {{ border-collapse: collapse }} td, th {{ border: 1px solid #ccc; padding: .2rem .5rem }}
img {{ max-height: {thumb}px; margin: .25rem; border: 1px solid #ddd }} .note {{ color: #666 }}
</style></head><body><p class="note">{note}</p>{body}</body></html>"""


def thumbnail(path: str) -> str | None:
    """A small JPEG of an image, or of a video's first frame, as a data URL; ``None`` if unreadable."""
    try:
        if media_kind(path) == "video":
            import av

            with av.open(path) as container:
                picture = next(container.decode(video=0)).to_image()
        else:
            with Image.open(path) as img:
                picture = ImageOps.exif_transpose(img)
                picture.load()
        picture = picture.convert("RGB")
        picture.thumbnail((THUMB, THUMB))
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=70)
    except Exception:  # an unreadable file still appears by name
        log.info("no thumbnail for %s", path, exc_info=True)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


class Sharer:
    def __init__(self, comparison: Comparison, store: Store, days: float):
        self.comparison = comparison
        self.store = store
        self.days = days

    def body(self, conversation: list[Exchange]) -> dict[str, Any]:
        """What a link keeps: the export's record and each turn's thumbnails."""
        c = self.comparison
        rec = record(c.pool.specs, [e.footprint for e in c.pool.engines], conversation, c.reference)
        thumbs = [[t for t in map(thumbnail, ex.turn.files) if t] for ex in conversation]
        return {"record": rec, "thumbnails": thumbs}

    async def share(self, conversation: list[Exchange], request: gr.Request) -> str:
        """The link to this comparison, kept for ``days``; or why there is none."""
        if not conversation:
            return "⚠️ Nothing to share yet: send a turn first."
        if not conversation[-1].done:
            return "⚠️ Wait for the answers (or press Stop) before sharing."
        try:
            body = await asyncio.to_thread(self.body, conversation)
            share_id = await asyncio.to_thread(self.store.share, body, self.days)
        except DemoError as err:
            return f"⚠️ {err}"
        link = f"{root_url(request) or ''}{PATH}{share_id}"
        return f"🔗 Read-only link, kept {self.days:g} days: [{link}]({link})"


def share_controls(sharer: Sharer, conversation: gr.State) -> None:
    """The Share button and its link line, inside the current Blocks."""
    with gr.Row():
        button = gr.Button("Share a link", elem_id="share", scale=0, min_width=160)
        said = gr.Markdown(elem_id="share-link")
    button.click(sharer.share, [conversation], [said], api_name="share")


def page(body: dict[str, Any], expires: str) -> str:
    """A shared comparison as a standalone HTML page."""
    text = markdown(body["record"])
    text = text.replace("<details><summary>Reasoning</summary>", "**Reasoning:**").replace("</details>", "")
    for n, thumbs in enumerate(body["thumbnails"], 1):
        if thumbs:
            images = " ".join(f"![input {i}]({t})" for i, t in enumerate(thumbs, 1))
            text = text.replace(f"## Turn {n}\n", f"## Turn {n}\n\n{images}\n", 1)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.validateLink = lambda url: url.startswith(THUMB_URL)  # any other link or image stays text
    note = f"A shared comparison, read-only; the link works until {expires}."
    return PAGE.format(title="FP8 vs BF16 comparison", thumb=THUMB, note=html.escape(note), body=md.render(text))


def routes(store: Store, days: float) -> list[Route]:
    def shared(request: Request) -> HTMLResponse:
        share_id = request.path_params["share_id"]
        body = store.shared(share_id)
        if body is None:
            why = f"This shared comparison does not exist or has expired (links last {days:g} days)."
            page_404 = PAGE.format(title="Not found", thumb=THUMB, note="", body=f"<p>{why}</p>")
            return HTMLResponse(page_404, 404, headers={"Content-Security-Policy": CSP})
        expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(store.expires(share_id)))
        return HTMLResponse(page(body, expires), headers={"Content-Security-Policy": CSP})

    return [Route(PATH + "{share_id}", shared, methods=["GET"])]
