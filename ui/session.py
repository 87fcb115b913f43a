"""The event handlers of one comparison page, independent of its layout.

Contract: ``Comparison(pool, settings)`` holds the engines and the default settings; its
methods are Gradio handlers whose inputs and outputs are plain values. Outputs, in
``outputs`` order: the input box, one chat pane per side, one metrics line per side, one
divergence view per side (the latest answer with its first diverging token marked), the
tokens-over-time plot, the notice under the input box (why a turn was refused), and the
conversation (a list of ``Exchange``, mutated in place so that Stop sees the partial answers).
The settings a user picks go to every side alike. ``respond`` streams every side at once; the
turn first appears with its first text, or with "…" placeholders after ``PLACEHOLDER_DELAY``; it
renders at most every ``RENDER_INTERVAL`` seconds (the plot every ``PLOT_INTERVAL``), less often
when many turns run at once (all of them together at most ``RENDER_BUDGET`` a second), while
the metrics count every token; a ``DemoError`` in the input, or a user over the per-user
limits (``inference.deploy.limits``), leaves the history and the user's input as they were and shows
the message; an error on one side is shown in that side's pane while the others go on.
``capacity`` is how many turns the engines answer at once (their smallest ``max_num_seqs``);
up to ``max_queue`` more wait for a free slot, told their place under the input box; beyond
that a turn is refused with "busy, please retry" (the box keeps it). Gradio lets every turn
handler in at once (no concurrency limit) so that the waiting happens here, where a user can be
told, and not in Gradio's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
import gradio.utils as gr_utils
import pandas as pd

from inference.compare.export import markdown, record
from inference.compare.merge import stream_sides
from inference.compare.transcript import Exchange
from inference.compat import timeout
from inference.deploy.limits import Admission, UserLimits
from inference.engines.pool import EnginePool
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn, prepare
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget, budget_for
from inference.spec import batch_capacity, request_limits
from ui.links import Link, by_path, linker
from ui.preview import caption, preview_file, prune, scratch

log = logging.getLogger(__name__)

SETTINGS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "repetition_penalty",
    "system",
    "enable_thinking",
    "image_max_tokens",
    "video_fps",
    "video_max_frames",
    "video_max_tokens",
)
VISUAL = SETTINGS[-4:]  # the visual budget: what the preview depends on
RENDER_INTERVAL = 0.05  # seconds between renders: at most ~20 per second per pane
PLOT_INTERVAL = 0.5  # the plot re-draws less often
# A turn first appears with its first text, or with "…" placeholders after this long: a render at
# once would take the server loop (~10-20 ms) just while it processes the requests' inputs.
PLACEHOLDER_DELAY = 0.15
# Renders per second of all running turns together. When each render cost the server loop ~5-20 ms
# (Gradio's postprocessing in a thread per component), 8 turns at 20 a second each made the loop,
# not the engines, set the pace (bench/load.py: 2.1x one user's throughput at 4 users, 1.1x at 8).
# Renders now cost under 1 ms (``ui.inline``, ``ui.links``); the cap stays, not re-tuned since.
RENDER_BUDGET = 40
PLOT_POINTS = 200  # per side, at most
STOPPED = "⏹ *stopped*"
EMPTY = "*(no text: the model ended its answer at once)*"
REASONING = "🧠 Reasoning"
DIVERGES = "first divergence"
KEEP_EXPORTS = 64  # export folders kept on disk (Gradio copies each into its cache when it is handed out)
REGENERATE = {"regenerate": True}  # what the Regenerate button sends as its message


def budget_note(ex: Exchange, side: int) -> str:
    """Users hit this: every new token spent thinking, and no reply."""
    a, parts = ex.answers[side], ex.split(side)
    if a.done and a.finish_reason == "length" and not parts.closed:
        return (
            f"⚠️ All {a.metrics.tokens} new tokens went to reasoning; there is no reply yet. "
            "Raise *Max new tokens* or turn *Thinking* off (Settings)."
        )
    return ""


def render(conversation: list[Exchange], side: int, link: Link = by_path) -> list[dict[str, Any]]:
    """The chat pane of one side: user files (``link`` gives each file's content) and text, then
    that side's reasoning and reply."""
    messages: list[dict[str, Any]] = []
    for ex in conversation:
        messages += [{"role": "user", "content": link(f)} for f in ex.turn.files]
        if ex.turn.text:
            messages.append({"role": "user", "content": ex.turn.text})
        a, parts = ex.answers[side], ex.split(side)
        if parts.reasoning or not parts.closed:
            status = "done" if parts.closed or a.done else "pending"
            meta = {"title": REASONING, "status": status}
            messages.append({"role": "assistant", "content": parts.reasoning or "…", "metadata": meta})
        body = "\n\n".join(p for p in (parts.reply, a.note, budget_note(ex, side)) if p)
        if not body and (parts.closed or a.done):
            body = EMPTY if a.done else "…"
        if body:
            messages.append({"role": "assistant", "content": body})
    return messages


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else str(n)


def describe(ex: Exchange | None, side: int, reference: int, labels: list[str], footprint: Any = None) -> str:
    """The figures under a pane, for the latest turn: speed, prompt and memory, divergence."""
    if ex is None:
        return ""
    a = ex.answers[side]
    m = a.metrics
    speed = []
    if m.ttft is not None:
        speed.append(f"TTFT {m.ttft * 1000:.0f} ms")
    if m.decode_rate is not None:
        speed.append(f"{m.decode_rate:.1f} tok/s")
    speed.append(f"{m.tokens} tokens" + ("" if a.done else "…"))
    if m.total is not None:
        speed.append(f"{m.total:.2f} s")
    size = []
    if m.prompt_tokens is not None:
        size.append(f"prompt {m.prompt_tokens} tokens ({m.visual_tokens} visual, {m.text_tokens} text)")
    if footprint is not None and footprint.weight_bytes:
        scheme = f" ({footprint.scheme})" if getattr(footprint, "scheme", None) else ""
        size.append(f"weights {_size(footprint.weight_bytes)}{scheme}")
    if footprint is not None and footprint.kv_tokens:
        peak = "" if m.kv_peak is None else f", peak use {m.kv_peak:.2%}"
        size.append(f"KV cache {_count(footprint.kv_tokens)} tokens{peak}")
    lines = [" · ".join(speed), " · ".join(size)]
    d = ex.divergence(side, reference)
    if d is not None:
        ref = labels[reference]
        if d.first is None:
            complete = a.finish_reason and ex.answers[reference].finish_reason  # both ended by the model
            state = "identical" if complete else "identical so far"
            parts = [f"vs {ref}: {state} ({d.common} tokens)"]
        else:
            parts = [f"vs {ref}: first divergence at token {d.first + 1}"]
        if d.identical is not None and d.first is not None:
            parts.append(f"{d.identical:.0%} identical tokens")
        if d.logprob_gap is not None:
            parts.append(f"mean |Δ logprob| {d.logprob_gap:.3f} over {d.common} common tokens")
        lines.append(" · ".join(parts))
    elif side == reference and len(labels) > 1:
        lines.append("reference for the divergence figures")
    return "  \n".join(line for line in lines if line)


def _as_turn(message: dict[str, Any] | None) -> UserTurn:
    """The box's value as a turn; every file must lie in Gradio's upload folder (Gradio already
    refuses a forged path; this keeps the handlers from ever reading anything else)."""
    message = message or {}
    files = []
    for f in message.get("files") or []:
        files.append(f if isinstance(f, str) else f.get("path"))
    uploads = Path(gr_utils.get_upload_folder()).resolve()
    for f in filter(None, files):
        if not Path(f).resolve().is_relative_to(uploads):
            raise DemoError(f"{Path(f).name}: not a file uploaded to this page; attach it again.")
    return UserTurn(text=(message.get("text") or "").strip(), files=tuple(p for p in files if p))


def user(request: gr.Request | None) -> str:
    """Who sends a turn, for the per-user limits: the client's address (behind a proxy, uvicorn
    takes it from X-Forwarded-For when the proxy is listed in ``FORWARDED_ALLOW_IPS``)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or getattr(request, "session_hash", None) or "anonymous"


class Comparison:
    """Handlers for one page; every side is driven by the same code."""

    def __init__(
        self,
        pool: EnginePool,
        settings: GenerationSettings = GenerationSettings(),
        video: VideoOptions = VideoOptions(),
        budget: VisualBudget | None = None,
        stall_seconds: float | None = None,
        limits: UserLimits = UserLimits(running=0, per_minute=0),
        max_queue: int | None = None,
    ):
        self.pool = pool
        self.admission = Admission(limits)  # turns per user (client address), at once and per minute
        self.stall_seconds = stall_seconds  # a side silent this long is stopped (see ``stream_sides``)
        self.settings = settings
        self.video = video
        specs = pool.specs
        self.budget = budget or budget_for(self.context)
        self.limits = request_limits(specs)[1]  # images and videos per turn
        self.reference = next((i for i, s in enumerate(specs) if s.reference), len(specs) - 1)
        self.capacity = batch_capacity(specs)  # turns answered at once
        self.max_queue = 4 * self.capacity if max_queue is None else max_queue  # turns that may wait for a slot
        self._slots = asyncio.Semaphore(self.capacity)
        self._waiting = 0
        self.labels = [s.label for s in specs]
        self._running: dict[str, Exchange] = {}  # session -> its turn being answered

    @property
    def context(self) -> int | None:
        """The shortest context of all sides; a remote side's is known once its server answered."""
        return request_limits(self.pool.specs)[0]

    @property
    def sides(self) -> int:
        return len(self.pool.engines)

    # --- views -------------------------------------------------------------------------

    def marks(self, ex: Exchange | None, side: int) -> list[tuple[str, str | None]]:
        """The latest answer of one side, its first diverging token marked (against the reference)."""
        if ex is None:
            return []
        a = ex.answers[side]
        others = [ex.divergence(i, self.reference) for i in range(self.sides)] if side == self.reference else []
        d = ex.divergence(side, self.reference)
        firsts = [x.first for x in ([d] if d else others) if x is not None and x.first is not None]
        if not firsts or not a.token_ids:
            return [(a.text, None)] if a.text else []
        first = min(firsts)
        decode = self.pool.engines[side].decode
        text = decode(a.token_ids)
        head = len(decode(a.token_ids[:first]))
        end = max(len(decode(a.token_ids[: first + 1])), head)
        pieces = [(text[:head], None), (text[head:end] or "⟨end⟩", DIVERGES), (text[end:], None)]
        return [(t, label) for t, label in pieces if t]

    def plot(self, ex: Exchange | None) -> pd.DataFrame:
        rows = []
        if ex is not None:
            for label, a in zip(self.labels, ex.answers, strict=True):
                series = [(0.0, 0), *a.metrics.series]
                step = max(1, len(series) // PLOT_POINTS)
                picked = series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
                rows += [{"seconds": round(t, 3), "tokens": n, "side": label} for t, n in picked]
        return pd.DataFrame(rows, columns=["seconds", "tokens", "side"])

    def _view(
        self,
        conversation: list[Exchange],
        details: bool = True,
        notice: str | None = None,
        shown: list | None = None,
        link: Link = by_path,
    ) -> list[Any]:
        """Every pane, every metrics line, then the divergence views and plot, then the notice under
        the input box (``None``: left as it is).

        ``details=False`` leaves the divergence views and plot as they are. While they are still
        empty (``shown``, which ``details=True`` refreshes, says what the browser has) it sends the
        empty values again, which costs nothing on either side; once they hold an answer it sends
        ``gr.skip()``, which makes Gradio rebuild the component with its JSON schema (~5 ms on the
        server) but spares the browser from re-drawing a long answer and the plot on every render.
        ``link``: the content of each user file in the panes (``ui.links``).
        """
        last = conversation[-1] if conversation else None
        feet = [e.footprint for e in self.pool.engines]
        n = range(self.sides)
        panes = [render(conversation, i, link) for i in n]
        lines = [describe(last, i, self.reference, self.labels, feet[i]) for i in n]
        note = gr.skip() if notice is None else notice
        if not details and shown is not None and not any(v is not None and len(v) for v in shown):
            return [*panes, *lines, *shown, note]
        if not details:
            return [*panes, *lines, *[gr.skip()] * self.sides, gr.skip(), note]
        fresh = [*[self.marks(last, i) for i in n], self.plot(last)]
        if shown is not None:
            shown[:] = fresh
        return [*panes, *lines, *fresh, note]

    # --- handlers ------------------------------------------------------------------------

    def _settings(self, values: tuple[Any, ...]) -> tuple[GenerationSettings, VideoOptions, VisualBudget]:
        """The panel's values (``SETTINGS`` order): sampling settings, frame sampling and visual budget,
        the same for every side.

        The sliders keep values in range (Gradio checks that too); a cleared number field
        arrives as ``None`` and is refused with a message.
        """
        v = dict(zip(SETTINGS, values, strict=True))
        try:
            settings = GenerationSettings(
                max_tokens=int(v["max_tokens"]),
                temperature=float(v["temperature"]),
                top_p=float(v["top_p"]),
                top_k=int(v["top_k"]),
                seed=int(v["seed"]),
                presence_penalty=float(v["presence_penalty"]),
                repetition_penalty=float(v["repetition_penalty"]),
                system=v["system"] or "",
                enable_thinking=bool(v["enable_thinking"]),
                ignore_eos=self.settings.ignore_eos,
            )
            video, budget = self._visual(*(v[k] for k in VISUAL))
        except (TypeError, ValueError) as err:
            raise DemoError(f"Every setting needs a value ({err}); see Settings.") from err
        return settings, video, budget

    def _visual(self, image_max_tokens, video_fps, video_max_frames, video_max_tokens):
        image_max = int(image_max_tokens)
        budget = VisualBudget(
            image_min_tokens=min(self.budget.image_min_tokens, image_max),
            image_max_tokens=image_max,
            video_max_tokens=int(video_max_tokens),
        )
        frames = max(2, int(video_max_frames) // 2 * 2)
        video = VideoOptions(fps=float(video_fps), max_frames=frames, max_seconds=self.video.max_seconds)
        return video, budget

    def _prepare(self, turns, video, budget, max_tokens) -> Prepared:
        return prepare(turns, video, self.limits, budget, self.context, max_tokens)

    def _check_length(self, prepared: Prepared, history: list[Exchange], settings: GenerationSettings) -> None:
        """Refuse a turn whose prompt and new tokens exceed the context, before anything is sent.

        Tokenising is skipped when the text's UTF-8 bytes alone show it fits (a token is at
        least one byte), so an ordinary turn pays nothing for the check.
        """
        if self.context is None:
            return
        text = settings.system + "".join(t.text for t in prepared.turns)
        text += "".join(a.text for ex in history for a in ex.answers)
        slack = 64 * len(prepared.turns) + 2 * len(prepared.plans) + 64  # the template's own tokens, generously
        if len(text.encode()) + slack + prepared.visual_tokens + settings.max_tokens <= self.context:
            return
        for i, engine in enumerate(self.pool.engines):
            answers = [past.split(i).reply for past in history]
            tokens = engine.prompt_tokens(prepared, answers, settings)
            if tokens + settings.max_tokens > self.context:
                raise DemoError(
                    f"This turn's prompt is {tokens} tokens ({prepared.visual_tokens} visual); with "
                    f"{settings.max_tokens} new tokens it exceeds the model's context of {self.context} tokens. "
                    "Shorten the message, lower max new tokens or the media budgets (Settings), or press Clear."
                )

    def preview(
        self,
        message: dict[str, Any] | None,
        conversation: list[Exchange],
        max_tokens: int,
        image_max_tokens: int,
        video_fps: float,
        video_max_frames: int,
        video_max_tokens: int,
    ):
        """What the files in the input box will cost and look like to the model, before sending:
        a gallery (grid over each image, sampled frames of each video) and a token summary."""
        try:
            turn = _as_turn(message)
            if not turn.files:
                return gr.update(value=None, visible=False), ""
            video, budget = self._visual(image_max_tokens, video_fps, video_max_frames, video_max_tokens)
            history = [ex.turn for ex in conversation]
            prepared = self._prepare([*history, UserTurn(turn.text or ".", turn.files)], video, budget, 0)
        except (DemoError, TypeError, ValueError) as err:
            return gr.update(value=None, visible=False), f"⚠️ {err}"
        mine = prepared.plans[len(prepared.plans) - len(turn.files) :]
        pictures = [(preview_file(path, fp, video), caption(fp)) for path, fp in zip(turn.files, mine, strict=True)]
        lines = [f"**{fp.name}**: {fp.plan.tokens} visual tokens" for fp in mine]
        total = prepared.visual_tokens  # the whole conversation under these settings, as it would be sent
        summary = f"{' · '.join(lines)}  \nConversation: {total} visual tokens"
        if self.context:
            summary += f" + up to {int(max_tokens)} new tokens, of a {self.context}-token context"
            if total + int(max_tokens) > self.context:
                summary += " — ⚠️ **does not fit**: lower the budgets or max new tokens (Settings)."
        return gr.update(value=pictures, visible=True), summary

    async def respond(
        self,
        message: dict[str, Any] | None,
        conversation: list[Exchange],
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seed: int,
        presence_penalty: float,
        repetition_penalty: float,
        system: str,
        enable_thinking: bool,
        image_max_tokens: int,
        video_fps: float,
        video_max_frames: int,
        video_max_tokens: int,
        request: gr.Request,
    ):
        """Send one turn to every side and stream their answers side by side.

        ``message`` ``REGENERATE`` (the Regenerate button) answers the latest turn again, with
        the current settings, in its place; the input box keeps what is in it.
        """
        values = (max_tokens, temperature, top_p, top_k, seed, presence_penalty, repetition_penalty, system)
        values = (*values, enable_thinking, image_max_tokens, video_fps, video_max_frames, video_max_tokens)
        replace = message == REGENERATE
        if replace:
            if not conversation:
                why = "There is no turn to regenerate yet."
                gr.Warning(why)
                yield gr.update(), *self._view(conversation, notice=f"⚠️ {why}"), conversation
                return
            last = conversation[-1].turn
            message = {"text": last.text, "files": list(last.files)}
        async for update in self._turn(message, conversation, values, request, replace=replace):
            yield update

    async def _turn(self, message, conversation: list[Exchange], values, request: gr.Request, *, replace: bool):
        """One turn on every side; ``replace``: it takes the place of the latest turn (regenerate)."""
        history = conversation[:-1] if replace else conversation[:]
        link = linker(request)  # the panes' user files, by URL: no per-render path checks in Gradio
        turn = UserTurn("")
        slot = contextlib.ExitStack()  # this user's place among the turns answered now
        try:
            turn = _as_turn(message)
            if not self.pool.status.ready:
                raise DemoError("The engines are still loading; please wait until the status says ready.")
            if conversation and not conversation[-1].done:
                raise DemoError("A turn is still being answered: wait for it or press Stop.")
            chosen, video, budget = self._settings(values)
            prepared = self._prepare([ex.turn for ex in history] + [turn], video, budget, chosen.max_tokens)
            self._check_length(prepared, history, chosen)
            if self._slots.locked() and self._waiting >= self.max_queue:
                raise DemoError(
                    f"The demo is busy ({self.capacity} turns being answered, {self._waiting} waiting). "
                    "Please retry in a minute; your message is still in the box."
                )
            self.admission.forget_idle()
            slot.enter_context(self.admission.admit(user(request)))
        except DemoError as err:
            log.info("input refused: %s", err)
            gr.Warning(str(err))
            box = gr.update() if replace else gr.update(value=message, interactive=True)
            yield box, *self._view(conversation, notice=f"⚠️ {err}", link=link), conversation
            return
        with slot:  # the user's place and the engine slot are given back however the turn ends
            async with contextlib.aclosing(self._wait_for_slot()) as places:
                async for place in places:
                    view = self._view(conversation, details=False, notice=place, link=link)
                    yield gr.update(interactive=False), *view, conversation
            slot.callback(self._slots.release)
            if replace:
                conversation.pop()
            start = time.monotonic()
            mine = prepared.plans[len(prepared.plans) - len(turn.files) :]  # this turn's files
            ex = Exchange.start(turn, chosen, self.sides, start, mine)
            conversation.append(ex)
            streams = [
                engine.stream(prepared, [past.split(i).reply for past in history], chosen)
                for i, engine in enumerate(self.pool.engines)
            ]
            merged = stream_sides(streams, self.stall_seconds)  # the requests start now
            self._running[request.session_hash] = ex
            box = gr.update(interactive=False) if replace else gr.update(value=None, interactive=False)
            # The box: when the first text comes first, a new turn's first render empties it (a
            # value, cheap) and the next locks it (an update makes Gradio rebuild the component,
            # ~5 ms: not on the way to the first token; Gradio takes no second submit while a turn
            # runs anyway). The "…" render of a slow start does both at once, as does Regenerate,
            # which keeps the user's draft in the box. Afterwards a new turn's box is sent empty
            # again; ``gr.update()`` would cost a rebuild per render, so only Regenerate pays it.
            lock = gr.update(interactive=False)
            boxes = [lock] if replace else [None, lock]
            keep = gr.update() if replace else None
            n = self.sides
            shown: list[Any] = [*[[]] * n, None]  # divergence views and plot as last rendered

            def view(details: bool) -> list[Any]:
                return self._view(conversation, details, notice="", shown=shown, link=link)

            try:
                if not await merged.arrives_within(PLACEHOLDER_DELAY):  # slow to start: show the turn now
                    yield box, *view(False), conversation
                    boxes.clear()
                last, last_plot = 0.0, start  # the plot and marks wait for their interval
                async for event in merged:
                    interval = max(RENDER_INTERVAL, len(self._running) / RENDER_BUDGET)
                    if ex.stop_requested:  # Stop ran first: end here, which aborts every request
                        break
                    now = time.monotonic()
                    answer = ex.answers[event.side]
                    first_text = not answer.text and event.chunk is not None and bool(event.chunk.text)
                    if event.chunk is not None:
                        answer.add(event.chunk, now)
                    if event.done:
                        answer.finish(now, f"⚠️ {event.error}" if event.error is not None else "")
                    if event.done or first_text or now - last >= interval:  # a side's first text: at once
                        details = event.done or now - last_plot >= max(PLOT_INTERVAL, 4 * interval)
                        last, last_plot = now, now if details else last_plot
                        yield boxes.pop(0) if boxes else keep, *view(details), conversation
            finally:
                await merged.aclose()
                for answer in ex.answers:  # ended early (Stop, Clear, closed tab): nothing left open
                    answer.finish(time.monotonic(), STOPPED)
                if self._running.get(request.session_hash) is ex:
                    del self._running[request.session_hash]
        yield gr.update(interactive=True), *self._view(conversation, link=link), conversation

    async def _wait_for_slot(self):
        """Take one of the ``capacity`` slots; while none is free, yield the line that tells the user
        their place, again whenever it changes (checked every second; each render costs the server,
        and many may wait). Cancelled while waiting (Stop, closed tab), nothing is held."""
        if not self._slots.locked():
            await self._slots.acquire()
            return
        self._waiting += 1
        said = None
        try:
            while True:
                line = (
                    f"⏳ The demo is busy: your turn starts when one of the {self.capacity} being answered "
                    f"ends ({self._waiting} waiting)."
                )
                if line != said:
                    said = line
                    yield line
                try:
                    async with timeout(1.0):
                        await self._slots.acquire()
                    return
                except TimeoutError:
                    pass
        finally:
            self._waiting -= 1

    def stop(self, conversation: list[Exchange]):
        """Stop: mark unfinished answers, unlock the input, and have ``respond`` end the turn.

        In the browser, Stop also cancels ``respond`` directly (``cancels=``); either way the
        vLLM requests are aborted.
        """
        now = time.monotonic()
        for ex in conversation:
            unfinished = [a for a in ex.answers if not a.done]
            for a in unfinished:
                a.finish(now, STOPPED)
            ex.stop_requested = ex.stop_requested or bool(unfinished)
        return gr.update(interactive=self.pool.status.ready), *self._view(conversation, notice=""), conversation

    def edit(self, conversation: list[Exchange]):
        """Take the latest turn back into the input box (its answers are dropped) to edit and resend."""
        if not conversation or not conversation[-1].done:
            why = "Nothing to edit yet." if not conversation else "Wait for the answers or press Stop first."
            gr.Warning(why)
            return gr.update(), *self._view(conversation, notice=f"⚠️ {why}"), conversation
        ex = conversation.pop()
        box = gr.update(value={"text": ex.turn.text, "files": list(ex.turn.files)}, interactive=True)
        return box, *self._view(conversation, notice=""), conversation

    def leave(self, request: gr.Request) -> None:
        """The tab was closed: end its running turn, which aborts its requests.

        Gradio does not always stop a generator whose client went away (it depends on which
        connection notices first); its unload event does fire, so the turn is ended here.
        """
        ex = self._running.get(request.session_hash)
        if ex is not None:
            ex.stop_requested = True

    def clear(self, conversation: list[Exchange]):
        """Forget the conversation on every side (a turn still streaming ends)."""
        for ex in conversation:
            ex.stop_requested = True
        return gr.update(value=None, interactive=self.pool.status.ready), *self._view([], notice=""), []

    def export(self, conversation: list[Exchange]):
        """The whole comparison as ``comparison.json`` and ``comparison.md``, shown for download."""
        if not conversation:
            gr.Warning("Nothing to export yet: send a turn first.")
            return gr.update()
        feet = [e.footprint for e in self.pool.engines]
        rec = record(self.pool.specs, feet, conversation, self.reference)
        root = scratch("export")
        folder = Path(tempfile.mkdtemp(dir=root, prefix="comparison-"))
        prune(root, KEEP_EXPORTS)
        (folder / "comparison.json").write_text(json.dumps(rec, indent=2, ensure_ascii=False), encoding="utf-8")
        (folder / "comparison.md").write_text(markdown(rec), encoding="utf-8")
        return gr.update(value=[str(folder / "comparison.json"), str(folder / "comparison.md")], visible=True)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app):
        """For ``launch(app_kwargs={"lifespan": ...})``: in the server's loop, warm the engines up once
        started, then watch them (a dead engine is restarted)."""

        async def warm_when_started() -> None:
            while not (self.pool.status.ready or self.pool.status.error):
                await asyncio.sleep(0.2)
            if self.pool.status.ready:
                await self.pool.warm_up()
                await self.pool.watch()

        task = asyncio.create_task(warm_when_started())
        try:
            yield
        finally:
            task.cancel()

    def poll(self):
        """Engine start-up status: the status line, the input's state, and whether to keep polling."""
        status = self.pool.status
        placeholder = "Ask about images or videos…" if status.ready else "Engines are loading…"
        return (
            self.status_line(),
            gr.update(interactive=status.ready, placeholder=placeholder),
            gr.Timer(active=not (status.ready or status.error)),
        )

    def status_line(self) -> str:
        """The status line: start-up progress or readiness, then what is wrong with any engine now."""
        status = self.pool.status
        if status.error:
            text = f"❌ **{status.message}** {status.error}"
        elif status.ready:
            text = f"✅ {status.message}"
        else:
            text = f"⏳ {status.message} The input unlocks when every engine is ready."
        notes = [f"⚠️ {note}" for _, note in sorted(self.pool.notes.items())]
        return "  \n".join([text, *notes])
