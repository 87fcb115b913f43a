"""The event handlers of one comparison page, independent of its layout.

Contract: ``Comparison(pool, settings)`` holds the engines and the default settings; its
methods are Gradio handlers whose inputs/outputs are plain values: the textbox value, one
message list and one metrics line per side, and the conversation (a list of ``Exchange``,
mutated in place so that Stop sees the partial answers). The settings a user picks go to
every side alike. ``respond`` streams every side at once and renders at
most every ``RENDER_INTERVAL`` seconds; a ``DemoError`` in the input leaves the history and
the user's input as they were and shows the message; an error on one side is shown in that
side's pane while the others go on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from inference.chat import GenerationSettings, UserTurn, prepare
from inference.compare import stream_sides
from inference.errors import DemoError
from inference.media import VideoOptions
from inference.metrics import SideMetrics
from inference.pool import EnginePool

log = logging.getLogger(__name__)

SETTINGS = ("max_tokens", "temperature", "top_p", "top_k", "seed", "system", "enable_thinking")
RENDER_INTERVAL = 0.05  # seconds between renders: at most ~20 per second per pane
STOPPED = "⏹ *stopped*"
EMPTY = "*(no text: the model ended its answer at once)*"


@dataclass
class Exchange:
    """One user turn and every side's answer to it."""

    turn: UserTurn
    answers: list[str]
    notes: list[str]  # per side: "", a stop mark or an error, shown under the answer
    done: list[bool] = field(default_factory=list)
    metrics: list[SideMetrics] = field(default_factory=list)
    stop_requested: bool = False  # set by Stop; the streaming handler ends the turn when it sees it


def render(conversation: list[Exchange], side: int) -> list[dict[str, Any]]:
    """The chat pane of one side: user files and text, then that side's answer."""
    messages: list[dict[str, Any]] = []
    for ex in conversation:
        messages += [{"role": "user", "content": {"path": f}} for f in ex.turn.files]
        if ex.turn.text:
            messages.append({"role": "user", "content": ex.turn.text})
        body = "\n\n".join(part for part in (ex.answers[side], ex.notes[side]) if part)
        messages.append({"role": "assistant", "content": body or (EMPTY if ex.done[side] else "…")})
    return messages


def describe(m: SideMetrics | None, done: bool) -> str:
    """One line of figures for a pane: what a stakeholder compares between the sides."""
    if m is None:
        return ""
    parts = []
    if m.ttft is not None:
        parts.append(f"TTFT {m.ttft * 1000:.0f} ms")
    if m.decode_rate is not None:
        parts.append(f"{m.decode_rate:.1f} tok/s")
    parts.append(f"{m.tokens} tokens" + ("" if done else "…"))
    if m.total is not None:
        parts.append(f"{m.total:.2f} s")
    if m.prompt_tokens is not None:
        parts.append(f"prompt {m.prompt_tokens} tokens ({m.visual_tokens} visual)")
    return " · ".join(parts)


def _as_turn(message: dict[str, Any] | None) -> UserTurn:
    message = message or {}
    files = []
    for f in message.get("files") or []:
        files.append(f if isinstance(f, str) else f.get("path"))
    return UserTurn(text=(message.get("text") or "").strip(), files=tuple(p for p in files if p))


class Comparison:
    """Handlers for one page; every side is driven by the same code."""

    def __init__(
        self,
        pool: EnginePool,
        settings: GenerationSettings = GenerationSettings(),
        video: VideoOptions = VideoOptions(),
    ):
        self.pool = pool
        self.settings = settings
        self.video = video
        limits = [s.engine_args.get("limit_mm_per_prompt", {}) for s in pool.specs]
        self.limits = {k: min(lim.get(k, 0) for lim in limits) for k in ("image", "video")}
        self._running: dict[str, Exchange] = {}  # session -> its turn being answered

    @property
    def sides(self) -> int:
        return len(self.pool.engines)

    def _view(self, conversation: list[Exchange]) -> list[Any]:
        """Every pane's messages, then every pane's metrics line (of the latest turn)."""
        last = conversation[-1] if conversation else None
        lines = [describe(last.metrics[i], last.done[i]) if last else "" for i in range(self.sides)]
        return [render(conversation, i) for i in range(self.sides)] + lines

    def _settings(self, max_tokens, temperature, top_p, top_k, seed, system, thinking) -> GenerationSettings:
        """The panel's values (``SETTINGS`` order) as one settings value for every side.

        The sliders keep values in range (Gradio checks that too); a cleared number field
        arrives as ``None`` and is refused with a message.
        """
        try:
            return GenerationSettings(
                max_tokens=int(max_tokens),
                temperature=float(temperature),
                top_p=float(top_p),
                top_k=int(top_k),
                seed=int(seed),
                system=system or "",
                enable_thinking=bool(thinking),
                ignore_eos=self.settings.ignore_eos,
            )
        except (TypeError, ValueError) as err:
            raise DemoError(f"Every setting needs a value ({err}); see Settings.") from err

    async def respond(
        self,
        message: dict[str, Any] | None,
        conversation: list[Exchange],
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seed: int,
        system: str,
        enable_thinking: bool,
        request: gr.Request,
    ):
        """Send one turn to every side and stream their answers side by side."""
        turn = _as_turn(message)
        try:
            if not self.pool.status.ready:
                raise DemoError("The engines are still loading; please wait until the status says ready.")
            chosen = self._settings(max_tokens, temperature, top_p, top_k, seed, system, enable_thinking)
            prepared = prepare([ex.turn for ex in conversation] + [turn], self.video, self.limits)
        except DemoError as err:
            log.info("input refused: %s", err)
            gr.Warning(str(err))
            yield gr.update(value=message, interactive=True), *self._view(conversation), conversation
            return
        n = self.sides
        start = time.monotonic()
        ex = Exchange(turn, [""] * n, [""] * n, [False] * n, [SideMetrics(start) for _ in range(n)])
        conversation.append(ex)
        yield gr.update(value=None, interactive=False), *self._view(conversation), conversation
        streams = [
            engine.stream(prepared, [past.answers[i] for past in conversation[:-1]], chosen)
            for i, engine in enumerate(self.pool.engines)
        ]
        last = 0.0
        merged = stream_sides(streams)
        self._running[request.session_hash] = ex
        try:
            async for event in merged:
                if ex.stop_requested:  # Stop ran first: end here, which aborts every request
                    break
                now = time.monotonic()
                side = ex.metrics[event.side]
                if event.chunk is not None:
                    ex.answers[event.side] += event.chunk.text
                    side.add(event.chunk, now)
                if event.error is not None:
                    ex.notes[event.side] = f"⚠️ {event.error}"
                if event.done:
                    ex.done[event.side] = True
                    side.finish(now)
                if event.done or now - last >= RENDER_INTERVAL:
                    last = now
                    yield gr.update(), *self._view(conversation), conversation
        finally:
            await merged.aclose()
            if self._running.get(request.session_hash) is ex:
                del self._running[request.session_hash]
        yield gr.update(interactive=True), *self._view(conversation), conversation

    def stop(self, conversation: list[Exchange]):
        """Stop: mark unfinished answers, unlock the input, and have ``respond`` end the turn.

        In the browser, Stop also cancels ``respond`` directly (``cancels=``); either way the
        vLLM requests are aborted.
        """
        now = time.monotonic()
        for ex in conversation:
            unfinished = [i for i, finished in enumerate(ex.done) if not finished]
            for i in unfinished:
                ex.done[i] = True
                ex.notes[i] = STOPPED
                ex.metrics[i].finish(now)
            ex.stop_requested = ex.stop_requested or bool(unfinished)
        return gr.update(interactive=self.pool.status.ready), *self._view(conversation), conversation

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
        return gr.update(value=None, interactive=self.pool.status.ready), *self._view([]), []

    def poll(self):
        """Engine start-up status: the status line, the input's state, and whether to keep polling."""
        status = self.pool.status
        if status.error:
            text = f"❌ **{status.message}** {status.error}"
        elif status.ready:
            text = f"✅ {status.message}"
        else:
            text = f"⏳ {status.message} The input unlocks when every engine is ready."
        placeholder = "Ask about images or videos…" if status.ready else "Engines are loading…"
        return (
            text,
            gr.update(interactive=status.ready, placeholder=placeholder),
            gr.Timer(active=not (status.ready or status.error)),
        )
