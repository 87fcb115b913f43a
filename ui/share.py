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

from inference.compare.caveats import speed_tag
from inference.compare.export import markdown, record
from inference.compare.transcript import Exchange
from inference.compare.verdict import verdict
from inference.errors import DemoError
from inference.inputs.media import media_kind
from inference.store.db import Store
from ui import views
from ui.gradio_adapter import root_url
from ui.session import Comparison
from ui.views import DIVERGES

log = logging.getLogger(__name__)

THUMB = 256  # px, the longer edge of an input's thumbnail
PATH = "/shared/"
THUMB_URL = "data:image/jpeg;base64,"  # the only link or image source a shared page renders
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed")  # the plot's sides, in order
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title><style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5 }}
table {{ border-collapse: collapse }} td, th {{ border: 1px solid #ccc; padding: .2rem .5rem }}
img {{ max-height: {thumb}px; margin: .25rem; border: 1px solid #ddd }} .note {{ color: #555 }}
.verdict {{ background: #f3f4f6; padding: .25rem 1rem; border-radius: .5rem }} mark {{ background: #fecaca }}
.answer {{ white-space: pre-wrap }}
</style></head><body><p class="note">{note}</p>{body}</body></html>"""


def thumbnail(path: str) -> str | None:
    """A small JPEG of an image, or of a video's first frame, as a data URL; ``None`` if unreadable."""
    try:
        if media_kind(path) == "video":
            import av

            with av.open(path) as container:
                first: Any = next(container.decode(video=0))  # PyAV's VideoFrame.to_image is untyped
                picture = first.to_image()
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

    def body(self, conversation: list[Exchange], demo: str = "/") -> dict[str, Any]:
        """What a link keeps: the export's record, each turn's thumbnails, the verdict as the page
        showed it, each turn's divergence view (``views.marks``: each side's answer in pieces, the
        first diverging one marked), each turn's tokens over time, and the demo's address."""
        c = self.comparison
        feet = [e.footprint for e in c.pool.engines]
        rec = record(c.pool.specs, feet, conversation, c.reference)
        thumbs = [[t for t in map(thumbnail, ex.turn.files) if t] for ex in conversation]
        tiny = any(s.tiny for s in c.pool.specs)
        said = verdict(conversation, c.labels, c.reference, [f.weight_bytes for f in feet], tiny=tiny)
        sides = range(c.sides)
        marks = [[views.marks(ex, i, c.reference, c.pool.engines[i].decode) for i in sides] for ex in conversation]
        tags = [speed_tag(spec, f) for spec, f in zip(c.pool.specs, feet, strict=True)]
        series = [views.plot(ex, c.labels, tags).to_dict("records") for ex in conversation]
        extra = {"verdict": views.verdict_text(said), "marks": marks, "series": series, "demo": demo}
        return {"record": rec, "thumbnails": thumbs, **extra}

    async def share(self, conversation: list[Exchange], request: gr.Request) -> str:
        """The link to this comparison, kept for ``days``; or why there is none."""
        if not conversation:
            return "⚠️ Nothing to share yet: send a turn first."
        if not conversation[-1].done:
            return "⚠️ Wait for the answers (or press Stop) before sharing."
        try:
            body = await asyncio.to_thread(self.body, conversation, root_url(request) or "/")
            share_id = await asyncio.to_thread(self.store.share, body, self.days)
        except DemoError as err:
            return f"⚠️ {err}"
        link = f"{root_url(request) or ''}{PATH}{share_id}"
        return f"🔗 Read-only link, kept {self.days:g} days: [{link}]({link})"


def share_controls(sharer: Sharer, conversation: gr.State) -> gr.Markdown:
    """The Share button and its link line (returned: Clear empties it), inside the current Blocks."""
    with gr.Row():
        button = gr.Button("Share a link", elem_id="share", scale=0, min_width=160)
        said = gr.Markdown(elem_id="share-link")
    button.click(sharer.share, [conversation], [said], api_name="share")
    return said


def divergence_html(pieces: list[list[list[str | None]]], labels: list[str]) -> str:
    """One turn's divergence view: each side's answer, its first diverging piece marked (escaped)."""
    rows = []
    for label, side in zip(labels, pieces, strict=False):
        spans = "".join(
            f"<mark title='{DIVERGES}'>{html.escape(t or '')}</mark>" if mark else html.escape(t or "")
            for t, mark in side
        )
        rows.append(f"<p><b>{html.escape(label)}</b>: <span class='answer'>{spans}</span></p>")
    legend = f"<p class='note'>Where the answers part: the <mark>marked</mark> piece is the {DIVERGES}.</p>"
    return legend + "".join(rows)


def plot_svg(rows: list[dict[str, Any]], width: int = 480, height: int = 160) -> str:
    """Tokens over time of every side as a small inline SVG (no script), its legend under it."""
    if not rows:
        return ""
    sides = list(dict.fromkeys(r["side"] for r in rows))
    t_max = max(r["seconds"] for r in rows) or 1.0
    n_max = max(r["tokens"] for r in rows) or 1
    lines, legend = [], []
    for colour, side in zip(COLOURS, sides, strict=False):
        points = " ".join(
            f"{40 + r['seconds'] / t_max * (width - 50):.1f},{height - 20 - r['tokens'] / n_max * (height - 30):.1f}"
            for r in rows
            if r["side"] == side
        )
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        legend.append(f"<span style='color:{colour}'>━</span> {html.escape(side)}")
    axes = (
        f"<text x='0' y='14' font-size='11'>{n_max} tokens</text>"
        f"<text x='{width - 60}' y='{height - 4}' font-size='11'>{t_max:.2f} s</text>"
        f"<line x1='40' y1='{height - 20}' x2='{width - 10}' y2='{height - 20}' stroke='#666'/>"
        f"<line x1='40' y1='10' x2='40' y2='{height - 20}' stroke='#666'/>"
    )
    svg = (
        f"<svg role='img' aria-label='Tokens over time' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>{axes}{''.join(lines)}</svg>"
    )
    return f"<figure>{svg}<figcaption>Tokens over time: {' · '.join(legend)}</figcaption></figure>"


def extras(body: dict[str, Any], n: int) -> str:
    """Turn ``n``'s divergence view and plot (HTML, every model-written text escaped)."""
    labels = [s["label"] for s in body["record"]["sides"]]
    marks, series = body.get("marks") or [], body.get("series") or []
    out = divergence_html(marks[n - 1], labels) if n <= len(marks) else ""
    return out + (plot_svg(series[n - 1]) if n <= len(series) else "")


def page(body: dict[str, Any], expires: str) -> str:
    """A shared comparison as a standalone HTML page: the verdict, the figures with their caveats,
    each turn with its divergence view and plot, and a link back to the demo."""
    text = markdown(body["record"])
    text = text.replace("<details><summary>Reasoning</summary>", "**Reasoning:**").replace("</details>", "")
    for n, thumbs in enumerate(body["thumbnails"], 1):
        if thumbs:
            images = " ".join(f"![input {i}]({t})" for i, t in enumerate(thumbs, 1))
            text = text.replace(f"## Turn {n}\n", f"## Turn {n}\n\n{images}\n", 1)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.validateLink = lambda url: url.startswith(THUMB_URL)  # type: ignore[method-assign]  # markdown-it's documented hook
    # (above: any other link or image stays text)
    rendered = md.render(text)
    for n in range(len(body["record"]["turns"]), 0, -1):  # each turn's views right after its heading
        heading = f"<h2>Turn {n}</h2>\n"
        rendered = rendered.replace(heading, heading + extras(body, n), 1)
    if body.get("verdict"):
        rendered = f"<section class='verdict'>{md.render(body['verdict'])}</section>" + rendered
    demo = body.get("demo") or "/"
    demo = html.escape(demo if demo.startswith("/") and not demo.startswith("//") else "/", quote=True)
    note = html.escape(f"A shared comparison, read-only; the link works until {expires}.")
    note += f" <a href='{demo}'>Try the demo yourself</a>."
    return PAGE.format(title="FP8 vs BF16 comparison", thumb=THUMB, note=note, body=rendered)


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
