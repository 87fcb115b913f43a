"""The blind test: two answers as A and B in an order the page cannot know, a vote, then the reveal and the tally.

Contract: ``blind_tab(blind)`` builds the tab inside the current Blocks and binds its events (API
names /blind_ask, /blind_vote, /blind_tally). ``BlindTest(comparison, store)``: ``ask``
answers one turn on both sides through the comparison's own turn (``Comparison.respond``: its
queue, limits, refusals and Stop, with the page's settings, a link's presets included) and shows
nothing of the answers until both are done, so that no side shows its speed: meanwhile both panes
show the prompt and the same line of progress (``waiting``: both answers' tokens together); it ends
once both answers are in (no cross-scoring); then the store records the turn with its sides in a random order
(``inference.store.db``: decided on the server, kept in the session's server-side state under an
opaque id) and the panes show them as A and B, with no figure, label or scheme. A blind turn
samples (``BLIND_SAMPLING``, Qwen's suggested settings for chat) with a seed drawn on the server
for that turn alone, the same on both sides: sending the same prompt in the labelled tab (greedy,
or any seed a visitor picks) gives other texts, so a replay cannot tell the sides apart. ``vote`` counts the
viewer's pick (A, B, tie, both bad) and guess of which one is the candidate (FP8): one vote per
turn per viewer (``ui.queue.user``), only for the turn this session was shown; then the labels and
figures are revealed and the tally, always on the tab, is redrawn. Each blind turn starts a fresh
conversation. The database is used from threads (``asyncio.to_thread``). ``votes_routes(store,
key)``: the host's CSV of every vote at ``/votes.csv``, for the key alone (not on the page: any
viewer could press a button there).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inference.compare.transcript import Exchange
from inference.errors import DemoError
from inference.store.db import LETTERS, PREFERENCES, BlindTurn, Store
from ui import views
from ui.cancel import stopped
from ui.gradio_adapter import bind
from ui.queue import user
from ui.session import Comparison
from ui.settings import NAMES

log = logging.getLogger(__name__)

WAITING = "⏳ Both answers appear together when both are done, so that neither gives itself away by its speed."
PICK = "Which answer is better, and which one do you think is {candidate}? Your vote reveals them."
STEP = 10  # %: the waiting panes' progress moves in steps this large
TALLY_SECONDS = 10.0  # the tally redraws itself this often (other viewers vote too)
BLIND_SAMPLING = {"temperature": 0.7, "top_p": 0.8, "top_k": 20}  # Qwen3.5's suggested non-thinking sampling


@dataclass
class Shown:
    """A blind turn as this session saw it (server-side state: never sent to the browser)."""

    turn: BlindTurn
    exchange: Exchange


class BlindTest:
    def __init__(self, comparison: Comparison, store: Store, *, store_prompts: bool = False):
        self.comparison = comparison
        self.store = store
        self.store_prompts = store_prompts  # the host's choice: nothing about a prompt is kept otherwise
        labels = comparison.labels
        self.ready = len(labels) == 2  # a blind test has two sides
        self.candidate = labels[1 - comparison.reference] if self.ready else ""

    @staticmethod
    def _sampled(values: dict[str, Any]) -> dict[str, Any]:
        """The page's settings for a blind turn, sampled (``BLIND_SAMPLING``) with a seed drawn here
        for this turn alone: a replay elsewhere cannot match it."""
        return {**values, **BLIND_SAMPLING, "seed": secrets.randbelow(2**31)}

    def _panes(self, shown: Shown | None) -> list[Any]:
        if shown is None:
            return [[], []]
        sides = [self.comparison.labels.index(label) for label in shown.turn.labels]
        return [views.render([shown.exchange], side) for side in sides]

    async def ask(
        self, message: dict[str, Any] | None, shown: Shown | None, values: dict[str, Any], request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Outputs: box, pane A, pane B, notice, the vote controls, the reveal, the shown turn (state).
        ``values``: the page's settings (the Comparison tab's, a link's presets included)."""
        hidden, nothing = gr.update(visible=False), ""
        if not self.ready:
            why = "⚠️ The blind test needs exactly two sides (FP8 and BF16)."
            yield gr.update(), [], [], why, hidden, nothing, None
            return
        conversation: list[Exchange] = []
        box, notice = gr.update(), ""
        respond = self.comparison.respond(message, conversation, self._sampled(values), request)
        n, last = self.comparison.sides, None
        async with contextlib.aclosing(respond) as updates:
            async for update in updates:  # the comparison's turn; its panes and figures are not shown
                box, notice = update[0], update[1 + 3 * n + 1]
                busy = isinstance(notice, str) and notice.startswith(("⚠️", "⏳ The demo is busy"))
                said = notice if busy else WAITING
                ex = conversation[-1] if conversation else None
                panes = waiting(ex) if ex is not None and not busy else [[], []]
                if (said, panes) != last:  # the first render (which locks the box), then each step of progress
                    last = said, panes
                    reset = [gr.update(label=letter, value=pane) for letter, pane in zip(LETTERS, panes, strict=True)]
                    yield box, *reset, said, hidden, nothing, None
                if ex is not None and ex.done:  # both answers are in: the vote needs no cross-scores
                    box = gr.update(value=None, interactive=True)
                    break
        ex = conversation[-1] if conversation else None
        if ex is None:  # refused: the comparison's sentence says why, the box keeps the message
            yield box, [], [], notice if isinstance(notice, str) else "", hidden, nothing, None
            return
        if stopped(ex) or not all(a.done and a.finish_reason for a in ex.answers):
            why = "⏹ Stopped or failed before both answers were complete: there is nothing to vote on."
            yield box, [], [], why, hidden, nothing, None
            return
        prompt = ex.turn.text if self.store_prompts else None
        turn = await asyncio.to_thread(self.store.show, user(request), self.comparison.labels, self.candidate, prompt)
        shown = Shown(turn, ex)
        pick = PICK.format(candidate=self.candidate)
        yield box, *self._panes(shown), pick, gr.update(visible=True), nothing, shown

    async def vote(
        self, preference: str | None, guess: str | None, shown: Shown | None, request: gr.Request
    ) -> tuple[Any, ...]:
        """Outputs: notice, pane A, pane B, the vote controls, the reveal, the tally, the shown turn."""

        def refused(why: str) -> tuple[Any, ...]:
            return f"⚠️ {why}", *[gr.skip()] * 5, shown

        if shown is None:
            return refused("There is no answer pair to vote on yet: send a turn first.")
        if preference not in PREFERENCES or guess not in LETTERS:
            return refused(f"Pick the better answer and which one you think is {self.candidate}, then vote.")
        try:
            cast = await asyncio.to_thread(self.store.vote, shown.turn.id, user(request), preference, guess)
        except DemoError as err:  # a second vote, or a turn not shown to this viewer
            return refused(str(err))
        verdict = "right ✓" if cast.correct else "wrong ✗"
        said = (
            f"Your guess was {verdict}: {self.candidate} was answer {LETTERS[shown.turn.labels.index(self.candidate)]}."
        )
        pairs = zip(LETTERS, shown.turn.labels, strict=True)
        panes = [gr.update(label=f"{letter}: {self._title(label)}") for letter, label in pairs]
        return said, *panes, gr.update(visible=False), self.reveal(shown), await self.tally(), shown

    async def stop(self, request: gr.Request) -> None:
        """Stop this session's turn (the comparison's Stop: its requests are aborted)."""
        await self.comparison.stop([], request)

    def tally_now(self) -> str:
        return self.store.tally(self.comparison.labels, self.candidate).markdown()

    def _title(self, label: str) -> str:
        return self.comparison.pool.specs[self.comparison.labels.index(label)].title

    def reveal(self, shown: Shown) -> str:
        """Each letter's side and its figures (speed, prompt, weights, scheme, divergence)."""
        c, lines = self.comparison, []
        for letter, label in zip(LETTERS, shown.turn.labels, strict=True):
            side = c.labels.index(label)
            feet = [e.footprint for e in c.pool.engines]
            figures = views.describe(shown.exchange, side, c.reference, c.labels, feet[side], *c.caveat(side, feet))
            lines.append(f"**{letter} was {label}**  \n{figures}")
        return "\n\n".join(lines)

    async def tally(self) -> str:
        t = await asyncio.to_thread(self.store.tally, self.comparison.labels, self.candidate)
        return t.markdown()


def waiting(ex: Exchange) -> list[list[dict[str, Any]]]:
    """Both panes while the answers come: the prompt, then one line of progress that is the same in
    both (the two answers' new tokens together, in ``STEP`` % steps), so that neither pane shows
    its own side's speed."""
    asked: list[dict[str, Any]] = [{"role": "user", "content": views.by_path(f)} for f in ex.turn.files]
    if ex.turn.text:
        asked.append({"role": "user", "content": ex.turn.text})
    budget = ex.settings.max_tokens * len(ex.answers)
    made = sum(a.metrics.tokens for a in ex.answers)
    share = min(100, int(100 * made / budget) // STEP * STEP) if budget else 0
    line = f"⏳ *answering…* both answers together: {share} % of their new-token budget ({ex.settings.max_tokens} each)"
    return [[*asked, {"role": "assistant", "content": line}] for _ in ex.answers]


def blind_tab(blind: BlindTest, settings: list[gr.components.Component]) -> None:
    """The tab's components and events, inside the current Blocks."""
    gr.Markdown(
        "Both models answer the same turn; you see their answers as **A** and **B** in an order "
        "chosen on the server for each turn. Pick the better one and guess which is "
        f"**{blind.candidate}**; your vote reveals them. Each turn starts a new conversation."
    )
    tally = gr.Markdown(blind.tally_now, elem_id="blind-tally")  # drawn on every page load
    gr.Markdown(blind.store.kept, elem_id="blind-kept")  # where votes live, and what loses them
    notice = gr.Markdown(elem_id="blind-notice")  # above the panes: what they wait for is in sight
    with gr.Row(equal_height=True):
        panes = [gr.Chatbot(label=letter, elem_id=f"blind-pane-{letter}", height=360) for letter in LETTERS]
    box = gr.MultimodalTextbox(
        elem_id="blind-box",
        file_types=["image", "video"],
        file_count="multiple",
        placeholder="Ask both models something, blind…",
        show_label=False,
        sources=["upload"],
    )
    with gr.Group(visible=False, elem_id="blind-vote") as controls:
        preference = gr.Radio(list(PREFERENCES), label="Which answer is better?", elem_id="blind-preference")
        guess = gr.Radio(list(LETTERS), label=f"Which one is {blind.candidate}?", elem_id="blind-guess")
        vote = gr.Button("Vote and reveal", variant="primary", elem_id="blind-vote-button")
    reveal = gr.Markdown(elem_id="blind-reveal")
    with gr.Row():
        stop = gr.Button("Stop", elem_id="blind-stop")
    shown = gr.State(None)
    timer = gr.Timer(TALLY_SECONDS)

    ask_out = [box, *panes, notice, controls, reveal, shown]
    ask = bind(blind.ask, {"message": box, "shown": shown, "values": dict(zip(NAMES, settings, strict=True))})
    asked = box.submit(
        ask.fn,
        ask.inputs,
        ask_out,
        api_name="blind_ask",
        show_progress="hidden",
        concurrency_limit=None,
    )
    asked.then(
        lambda: (gr.update(value=None), gr.update(value=None)), None, [preference, guess], show_progress="hidden"
    )
    vote_out = [notice, *panes, controls, reveal, tally, shown]
    vote.click(blind.vote, [preference, guess, shown], vote_out, api_name="blind_vote", show_progress="hidden")
    stop.click(blind.stop, None, None, api_visibility="private")
    gr.on([timer.tick], blind.tally, None, [tally], api_name="blind_tally", show_progress="hidden")


def votes_routes(store: Store, key: str | None) -> list[Route]:
    """``GET /votes.csv``: every vote as CSV for the host, who sends ``Authorization: Bearer KEY``
    (``--votes-key-env``); any other request gets 401 and one sentence. No key set: no route (404)."""
    if not key:
        return []

    async def votes(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            why = "The votes are for the host: send the key from --votes-key-env as 'Authorization: Bearer KEY'.\n"
            return PlainTextResponse(why, 401)
        text = await asyncio.to_thread(store.csv)
        headers = {"Content-Disposition": 'attachment; filename="votes.csv"'}
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

    return [Route("/votes.csv", votes, methods=["GET"])]
