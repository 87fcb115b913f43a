"""The event handlers of one comparison page, independent of its layout.

Contract: ``Comparison(pool, settings)`` holds the engines and the default settings; its methods
are Gradio handlers whose inputs and outputs are plain values. Outputs, in ``outputs`` order: the
input box, one chat pane, one metrics line and one divergence view per side (``ui.views``), the
tokens-over-time plot, the verdict, one cross-score heat map per side but the reference, the
notice under the input box (why a turn was refused), and the conversation (a list of
``Exchange``, mutated in place so that Stop sees the partial answers).
The settings a user picks (``ui.settings``) reach a handler as ``values``, one dict by setting
name (``ui.gradio_adapter.bind``), and go to every side alike. ``respond`` waits for a slot
(``ui.queue``, telling the user their place) and streams every side at once: the turn appears with
its first text, or with "…" after a short delay, then renders at a pace (``ui.pacing``) while
the metrics count every token (*each alone*: one side after the other). Once every answer has
ended, the input box unlocks, and then each answer is scored under the other engine
(``inference.engines.scoring``; Stop, Clear and the session's next turn end that) and the verdict is
rendered (``inference.compare.verdict``). Stop, Clear, a closed tab and the next turn end a turn,
waiting, streaming or scoring, through its one ``Cancel`` (``ui.cancel``). A ``DemoError`` in the input,
a full demo or a user over the per-user limits leaves the history and the input as they were and
shows the message; an error on one side is shown in that side's pane while the others go on. Every turn, answered or
refused, is counted and logged (``ui.telemetry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from inference.compare.caveats import speed_caveat, speed_tag
from inference.compare.cross import SCORING
from inference.compare.export import record, write
from inference.compare.merge import stream_sides
from inference.compare.transcript import Exchange
from inference.compare.verdict import verdict
from inference.compare.window import Window, left_out
from inference.deploy.limits import UserLimits
from inference.engines.pool import EnginePool
from inference.engines.scoring import score_turn
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn, prepare
from inference.inputs.documents import TooLong
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget, budget_for
from inference.spec import batch_capacity, request_limits
from ui import views
from ui.cancel import Cancel, Turns
from ui.inputs import as_turn, check_system, text_limit, window_for
from ui.links import linker
from ui.pacing import renders
from ui.preview import caption, preview_file, prune, scratch
from ui.queue import Halted, TurnQueue
from ui.settings import parse
from ui.telemetry import Telemetry
from ui.viewers import Identity
from ui.views import Link, by_path

log = logging.getLogger(__name__)

KEEP_EXPORTS = 64  # export folders kept on disk (Gradio copies each into its cache when it is handed out)
REGENERATE = {"regenerate": True}  # what the Regenerate button sends as its message


def _session(request: Any) -> str | None:
    return getattr(request, "session_hash", None)


def _unsay(warned: str) -> tuple[Any, str]:
    """The notice and the preview's state once the box's files are fine: the notice is cleared only
    when it holds what the preview said there."""
    return ("" if warned else gr.skip()), ""


class Comparison:
    """Handlers for one page; every side is driven by the same code."""

    def __init__(
        self,
        pool: EnginePool,
        settings: GenerationSettings = GenerationSettings(),
        video: VideoOptions = VideoOptions(),
        budget: VisualBudget | None = None,
        stall_seconds: float | None = None,
        user_limits: UserLimits = UserLimits(running=0, per_minute=0),
        max_queue: int | None = None,
        max_tokens_cap: int | None = None,
        identity: Identity | None = None,
        log_prompts: bool = False,
    ):
        self.pool = pool
        # a host's caps on settings, by name: the slider's maximum (``ui.layout``), which Gradio enforces
        self.caps = {} if max_tokens_cap is None else {"max_tokens": max_tokens_cap}
        self.stall_seconds = stall_seconds  # a side silent this long is stopped (see ``stream_sides``)
        self.settings = settings
        self.video = video
        specs = pool.specs
        self.budget = budget or budget_for(self.context)
        self.media_limits = request_limits(specs)[1]  # images and videos per turn
        self.reference = next((i for i, s in enumerate(specs) if s.reference), len(specs) - 1)
        capacity = batch_capacity(specs)  # turns answered at once
        self.queue = TurnQueue(capacity, 4 * capacity if max_queue is None else max_queue, user_limits)
        self.identity = identity or Identity(secrets.token_bytes(32))  # who a viewer is (``ui.viewers``)
        self.telemetry = Telemetry(pool, self.queue, self.identity, log_prompts)  # /metrics, a log line per turn
        self.labels = [s.label for s in specs]
        self.scored = [i for i in range(len(specs)) if i != self.reference]  # sides with a heat map
        self.turns = Turns()  # every session's turns under way, each with the one way to end it early

    @property
    def context(self) -> int | None:
        """The shortest context of all sides; a remote side's is known once its server answered."""
        return request_limits(self.pool.specs)[0]

    @property
    def sides(self) -> int:
        return len(self.pool.engines)

    def _view(
        self,
        conversation: list[Exchange],
        details: bool = True,
        notice: str | None = None,
        shown: list[Any] | None = None,
        link: Link = by_path,
    ) -> list[Any]:
        """Every pane, every metrics line, then the divergence views and plot, then the notice under
        the input box (``None``: left as it is).

        ``details=False`` leaves the divergence views and plot as they are. While they are still
        empty (``shown``, which ``details=True`` refreshes, says what the browser has) it sends the
        empty values again, which costs nothing on either side; once they hold an answer it sends
        ``gr.skip()``, which spares the browser from re-drawing a long answer and the plot on every
        render (and the server a rebuild of each: ``ui.gradio_adapter.cheap_skips``).
        ``link``: the content of each user file in the panes (``ui.links``).
        """
        last = conversation[-1] if conversation else None
        feet = [e.footprint for e in self.pool.engines]
        n = range(self.sides)
        panes = [views.render(conversation, i, link) for i in n]
        lines = [views.describe(last, i, self.reference, self.labels, feet[i], *self.caveat(i, feet)) for i in n]
        note = gr.skip() if notice is None else notice
        if not details and shown is not None and not any(v is not None and len(v) for v in shown):
            return [*panes, *lines, *shown, note]
        if not details:
            return [*panes, *lines, *[gr.skip()] * (2 * self.sides + 1), note]
        decoders = [e.decode for e in self.pool.engines]
        tags = [speed_tag(spec, foot) for spec, foot in zip(self.pool.specs, feet, strict=True)]
        frame = views.plot(last, self.labels, tags)  # its y-axis ends above the top (not at the last tick)
        drawn = gr.update(value=frame, y_lim=list(views.y_range(frame))) if len(frame) else frame
        fresh = [*[views.marks(last, i, self.reference, decoders[i]) for i in n], drawn]
        weights = [f.weight_bytes for f in feet]
        said = verdict(conversation, self.labels, self.reference, weights, tiny=any(s.tiny for s in self.pool.specs))
        fresh.append(views.verdict_text(said))
        fresh += [views.heat(last, i, self.reference, self.labels, decoders[i]) for i in self.scored]
        if shown is not None:
            shown[:] = fresh
        return [*panes, *lines, *fresh, note]

    def caveat(self, side: int, feet: list[Any]) -> tuple[str, int | None]:
        """``views.describe``'s caveat and reference weights for ``side``."""
        return speed_caveat(self.pool.specs[side], feet[side]), feet[self.reference].weight_bytes

    def _prepare(
        self, turns: Sequence[UserTurn], video: VideoOptions, budget: VisualBudget, max_tokens: int
    ) -> Prepared:
        return prepare(turns, video, self.media_limits, budget, self.context, max_tokens)

    def _admitted(
        self,
        turn: UserTurn,
        history: list[Exchange],
        chosen: GenerationSettings,
        video: VideoOptions,
        budget: VisualBudget,
    ) -> tuple[Prepared, Window]:
        """An admitted turn's media decoded and its window fitted (in a worker thread)."""
        prepared = self._prepare([ex.turn for ex in history] + [turn], video, budget, chosen.max_tokens)
        return prepared, window_for(self.pool.engines, self.context, prepared, history, chosen, self.media_limits)

    # --- handlers ------------------------------------------------------------------------

    def preview(
        self, message: dict[str, Any] | None, conversation: list[Exchange], values: dict[str, Any], warned: str = ""
    ) -> tuple[dict[str, Any], str, Any, str]:
        """What the files in the input box will cost and look like to the model, before sending:
        a gallery (grid over each image, sampled frames of each video) and a token summary. A problem
        with them is said once, in the notice under the box, where a refused turn says it too
        (``warned``, the state it returns last, is what it said there, so that it clears only that)."""
        try:
            turn = as_turn(message, text_limit(self.context))
            if not turn.files:
                return gr.update(value=None, visible=False), "", *_unsay(warned)
            _, video, budget = parse(values, self.settings, self.video, self.budget)
            history = [ex.turn for ex in conversation]
            prepared = self._prepare([*history, UserTurn(turn.text or ".", turn.files)], video, budget, 0)
        except (DemoError, TypeError, ValueError) as err:
            return gr.update(value=None, visible=False), "", f"⚠️ {err}", f"⚠️ {err}"
        mine = prepared.plans[len(prepared.plans) - len(turn.files) :]
        pictures = [(preview_file(path, fp, video), caption(fp)) for path, fp in zip(turn.files, mine, strict=True)]
        summary = views.cost(mine, prepared.visual_tokens, int(values["max_tokens"]), self.context)
        return gr.update(value=pictures, visible=True), summary, *_unsay(warned)

    async def respond(
        self, message: dict[str, Any] | None, conversation: list[Exchange], values: dict[str, Any], request: gr.Request
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Send one turn to every side and stream their answers side by side.

        ``message`` ``REGENERATE`` (the Regenerate button) answers the latest turn again, with
        the current settings, in its place; the input box keeps what is in it.
        """
        replace = message == REGENERATE
        if replace:
            if not conversation:
                why = "There is no turn to regenerate yet."
                yield gr.update(), *self._view(conversation, notice=f"⚠️ {why}"), conversation
                return
            last = conversation[-1].turn
            message = {"text": last.text, "files": list(last.files)}
        async for update in self._turn(message, conversation, values, request, replace=replace):
            yield update

    async def _turn(
        self,
        message: dict[str, Any] | None,
        conversation: list[Exchange],
        values: dict[str, Any],
        request: gr.Request,
        *,
        replace: bool,
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """One turn on every side, as its steps; ``replace``: it takes the latest turn's place (Regenerate).

        Whatever it holds (the user's place, a slot, its ``Cancel`` in ``self.turns``) is given back
        however it ends: answered, refused, stopped, cleared, superseded or closed with its tab.
        """
        session, link = request.session_hash, linker(request)
        assert session is not None  # a queued event always has one (Gradio's queue gives it the event's id else)
        history = conversation[:-1] if replace else conversation[:]
        await self.turns.supersede(session)  # 1. the session's last turn, still cross-scoring, gives way
        async with contextlib.AsyncExitStack() as held:
            turn = UserTurn("")  # 2. admitted, or refused with a sentence and nothing else changed
            try:
                turn = as_turn(message, text_limit(self.context))  # from the text's length alone
                chosen, prepared, window = await self._admit(turn, conversation, history, values, request, held)
            except DemoError as err:
                yield self._refused(err, turn, message, conversation, request, replace=replace, link=link)
                return
            cancel = held.enter_context(self.turns.open(session))  # Stop, Clear, leaving, the next turn
            try:  # 3. a slot, telling the user their place meanwhile
                async with contextlib.aclosing(self.queue.wait_for_slot(cancel.event)) as places:
                    async for place in places:
                        locked = gr.update(interactive=False)
                        yield self._page(locked, conversation, details=False, notice=place, link=link)
            except Halted:  # Stop or Clear before a slot was free: nothing was sent, the message goes back
                back = [] if cancel.cleared else conversation
                box = gr.update(value=message, interactive=True)
                if replace or cancel.cleared:  # Regenerate's box and Clear's emptied one are left as they are
                    box = gr.update(interactive=True)
                yield self._page(box, back, notice="", link=link)
                return
            held.callback(self.queue.release)
            ex, said = self._send(cancel, turn, chosen, prepared, window, history, conversation, replace=replace)
            shown: list[Any] = [*[[]] * self.sides, None, "", *[""] * len(self.scored)]  # details as last rendered
            try:  # 4. every answer streams; the page renders at a pace (``ui.pacing``)
                assert cancel.merged is not None  # set by ``_send``
                start = ex.answers[0].metrics.started  # when the requests were sent
                earlier = sum(len(a.text) for past in history for a in past.answers)  # in the panes too
                paced = renders(cancel.merged, ex, start, self.turns.answering, replace=replace, earlier=earlier)
                async with contextlib.aclosing(paced) as pace:
                    async for box, details in pace:
                        yield self._page(box, conversation, details, notice=said, shown=shown, link=link)
            finally:  # ended, stopped or closed: the requests are closed, open answers marked, the turn counted
                await cancel.settle()
                self.telemetry.turn(request, ex, cancel.cleared)
            if not cancel.stopped:  # 5. every answer has ended: the box unlocks, then each is scored
                ex.cross_note = SCORING
                box = gr.update(interactive=True) if replace else gr.update(value=None, interactive=True)
                yield self._page(box, conversation, link=link)
                cancel.scoring = True
                histories = [[past.split(i).reply for past in history] for i in range(self.sides)]
                await score_turn(self.pool.engines, ex, prepared, histories, self.reference, cancel.event)
                if cancel.superseded:  # the next turn has begun: it renders the page from now on
                    return
        if cancel.cleared:  # 6. the last render: Clear's emptied page, or the turn as it ended
            yield self._page(gr.update(value=None, interactive=True), [], notice="", link=link)
            return
        # the box keeps its value (the viewer may be typing the next turn while the scores came in);
        # ``interactive`` is said again, else Gradio's diff of this update against the last one
        # drops it and the box falls back to its constructor's (locked) state
        yield self._page(gr.update(interactive=True), conversation, notice=said, link=link)

    async def _admit(
        self,
        turn: UserTurn,
        conversation: list[Exchange],
        history: list[Exchange],
        values: dict[str, Any],
        request: gr.Request,
        held: contextlib.AsyncExitStack,
    ) -> tuple[GenerationSettings, Prepared, Window]:
        """The turn checked, given the user's place (held in ``held``), its media decoded and its
        window fitted (in a worker thread: seconds on a long turn); a ``DemoError`` says why not."""
        if not self.pool.status.ready:
            raise DemoError("The engines are still loading; please wait until the status says ready.")
        if conversation and not conversation[-1].done:
            raise DemoError("A turn is still being answered: wait for it or press Stop.")
        chosen, video, budget = parse(values, self.settings, self.video, self.budget)
        check_system(chosen.system, text_limit(self.context))
        held.enter_context(self.queue.admit(request))
        prepared, window = await asyncio.to_thread(self._admitted, turn, history, chosen, video, budget)
        return chosen, prepared, window

    def _refused(
        self,
        err: DemoError,
        turn: UserTurn,
        message: dict[str, Any] | None,
        conversation: list[Exchange],
        request: gr.Request,
        *,
        replace: bool,
        link: Link,
    ) -> tuple[Any, ...]:
        """The render of a refused turn: its sentence under the box, the message kept in it."""
        log.info("input refused: %s", err if self.telemetry.log_prompts else getattr(err, "reason", "input"))
        self.telemetry.refused(request, err, turn)
        box = gr.update() if replace else gr.update(value=message, interactive=True)
        if isinstance(err, TooLong) and not replace:  # megabytes of text are not sent back
            box = gr.update(interactive=True)
        return self._page(box, conversation, notice=f"⚠️ Not sent — {err}", link=link)

    def _send(
        self,
        cancel: Cancel,
        turn: UserTurn,
        chosen: GenerationSettings,
        prepared: Prepared,
        window: Window,
        history: list[Exchange],
        conversation: list[Exchange],
        *,
        replace: bool,
    ) -> tuple[Exchange, str]:
        """The turn on its way to every side: its ``Exchange`` in the conversation, its requests sent
        (through ``cancel``), and the line under the box saying which turns were left out."""
        if replace:
            conversation.pop()
        mine = prepared.plans[len(prepared.plans) - len(turn.files) :]  # this turn's files
        ex = Exchange.start(turn, chosen, self.sides, time.monotonic(), mine)
        conversation.append(ex)
        kept = history[window.first :]  # the turns left out are said under the box, on every render
        streams = [
            engine.stream(window.prepared, [past.split(i).reply for past in kept], chosen)
            for i, engine in enumerate(self.pool.engines)
        ]
        alone = chosen.timing == "alone"  # one side after the other: each side's own speed
        cancel.send(ex, stream_sides(streams, self.stall_seconds, one_at_a_time=alone))  # the requests start
        return ex, left_out(window.first)

    def _page(self, box: Any, conversation: list[Exchange], details: bool = True, **view: Any) -> tuple[Any, ...]:
        """One render of every output (``outputs`` order): the box, ``_view``'s, the conversation."""
        return (box, *self._view(conversation, details, **view), conversation)

    async def stop(self, conversation: list[Exchange], request: gr.Request) -> tuple[Any, ...]:
        """Stop: end this user's turn, waiting or running (``ui.cancel``: its requests are aborted,
        its unfinished answers marked stopped, and its own last render is the stopped turn), and
        unlock the input."""
        self.turns.stop(_session(request), "stop")
        return gr.update(interactive=self.pool.status.ready), *self._view(conversation, notice=""), conversation

    def edit(self, conversation: list[Exchange]) -> tuple[Any, ...]:
        """Take the latest turn back into the input box (its answers are dropped) to edit and resend."""
        if not conversation or not conversation[-1].done:
            why = "Nothing to edit yet." if not conversation else "Wait for the answers or press Stop first."
            return gr.update(), *self._view(conversation, notice=f"⚠️ {why}"), conversation
        ex = conversation.pop()
        box = gr.update(value={"text": ex.turn.text, "files": list(ex.turn.files)}, interactive=True)
        return box, *self._view(conversation, notice=""), conversation

    async def leave(self, request: gr.Request) -> None:
        """The tab was closed: end its turns, which aborts their requests.

        Gradio does not always stop a generator whose client went away (it depends on which
        connection notices first); its unload event does fire, so the turn is ended here.
        """
        self.turns.stop(_session(request), "leave")

    async def clear(self, conversation: list[Exchange], request: gr.Request) -> tuple[Any, ...]:
        """Forget the conversation on every side (a turn waiting or streaming ends: ``ui.cancel``)."""
        self.turns.stop(_session(request), "clear")
        return gr.update(value=None, interactive=self.pool.status.ready), *self._view([], notice=""), []

    def export(self, conversation: list[Exchange]) -> dict[str, Any]:
        """The whole comparison as ``comparison.json`` and ``comparison.md``, shown for download."""
        if not conversation:
            gr.Warning("Nothing to export yet: send a turn first.")
            return gr.update()
        feet = [e.footprint for e in self.pool.engines]
        rec = record(self.pool.specs, feet, conversation, self.reference)
        root = scratch("export")
        folder = Path(tempfile.mkdtemp(dir=root, prefix="comparison-"))
        prune(root, KEEP_EXPORTS)
        return gr.update(value=[str(p) for p in write(rec, folder)], visible=True)

    def exported(self, conversation: list[Exchange]) -> str | dict[str, Any]:
        """The notice beside Export: one sentence when there is nothing to export (else left as it is)."""
        return "⚠️ Nothing to export yet: send a turn first." if not conversation else gr.skip()

    def poll(self) -> tuple[str, dict[str, Any], gr.Timer]:
        """Engine start-up status: the status line, the input's state, and whether to keep polling."""
        status = self.pool.status
        placeholder = (
            "Ask anything: text, images, videos, .txt or .md files…" if status.ready else "Engines are loading…"
        )
        return (
            self.status_line(),
            gr.update(interactive=status.ready, placeholder=placeholder),
            gr.Timer(active=not (status.ready or status.error)),
        )

    def status_line(self) -> str:
        """The status line: start-up progress or readiness, then what is wrong with any engine now."""
        return views.status_line(self.pool.status, self.pool.notes)
