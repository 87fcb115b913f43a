"""The page: one multimodal input, one chat pane (metrics, divergence view) per side, settings, tools.

Contract: ``build_demo(comparison, banner, examples_dir)`` returns a ``gr.Blocks`` whose
per-side components are built in a loop over the comparison's sides (no per-side code),
whose input stays locked until every engine is ready (a timer polls the start-up status),
whose settings go to every side alike, whose Stop and Clear end a running turn (a pane's trash
icon is Clear too), and whose
examples (from ``inference.inputs.samples``) fill the input when clicked, whose empty panes show
them too and send one when clicked (``ui.start``), and whose link can preset the
settings (``ui.presets``: ``/?max_tokens=24``). A verdict in words sits above the panes, with what
every figure means (``ui.glossary``) beside it, and a cross-score heat map per side below them. A
second tab runs the built-in or an uploaded prompt set on the same engines (``ui.evaluation``); with
a store, a third runs the blind test (``ui.blind``; first when asked) and a Share button keeps a
link (``ui.share``). It launches nothing; ``CSS`` is for the launch. ``render`` builds the
components (a ``Page``), ``wire`` binds their events; the settings panel follows ``ui.settings``.
Each handler's inputs are named by its parameters (``ui.gradio_adapter.bind``); the turn events run
their components' processing inline. API names: /respond, /regenerate, /stop, /edit, /clear,
/export, /preview, /poll, /status, /evaluate; with a store /share and the blind test's (``ui.blind``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, cast

import gradio as gr

from ui.blind import BlindTest, blind_tab
from ui.evaluation import evaluation_tab
from ui.glossary import glossary
from ui.gradio_adapter import bind, cheap_skips
from ui.inputs import FILE_TYPES, paste_limit
from ui.presets import preset
from ui.session import REGENERATE, Comparison
from ui.settings import NAMES, PREVIEWED, ROWS, SETTINGS, control, defaults
from ui.share import Sharer, share_controls
from ui.start import pane_examples, picked
from ui.views import DIVERGES

if TYPE_CHECKING:  # annotations only: what ``gr.Examples`` and an event listener return
    from gradio.events import Dependency
    from gradio.helpers import Examples

TITLE = "Qwen3.5-9B: FP8 next to BF16"
# For ``launch(css=...)``. A meeting room's 1280×800 screen shows the box, both panes and their
# figures without scrolling (the panes take what the header and figures leave); on a phone one pane
# shows at a time, with a switch between them right above (``#answer-switch``). The examples in the
# first pane fit it whole (three compact columns; on a phone one row that scrolls sideways): in
# Gradio's two columns they overflowed the pane, which Gradio scrolls to its end, so the first
# example opened cut off. The figures under the panes keep their height while they stream (their
# numbers change width and the lines re-wrap), so the buttons below do not move under the pointer.
CSS = """
#title h1 { font-size: 1.4rem; margin: 0; font-family: system-ui, "DejaVu Sans", sans-serif; }
#title p { margin: 0; }
#banner p, #status p, #verdict p { font-size: 0.8rem; margin: 0; line-height: 1.35; }
[id^='metrics-'] { min-height: 5.5em; font-size: 0.85em; }
[id^='pane-'] { height: max(220px, calc(100dvh - 540px)) !important; }
#preview img { max-height: 260px; object-fit: contain; }
[id^='pane-'] .examples { grid-template-columns: repeat(3, minmax(0, 1fr)) !important; gap: 6px !important; }
[id^='pane-'] .example { padding: 6px 10px !important; }
.heat-map { line-height: 1.9; white-space: pre-wrap; font-family: monospace; font-size: 0.85em; }
.heat-token { border-radius: 3px; padding: 1px 0; }
footer a, footer button, footer span { color: #4b5563 !important; }
@media (min-width: 641px) { #answer-switch { display: none !important; } }
[data-testid="upload-text"] .or, .min_value, .max_value { color: #4b5563 !important; }
#eval-run, #blind-vote-button { background: #c2410c !important; color: #fff !important; }
#tabs button[role='tab'][aria-selected='true'] { color: #c2410c !important; }
@media (max-width: 640px) {
  #panes:not(.show-1) #side-1, #panes.show-1 #side-0 { display: none !important; }
  [id^='pane-'] { height: max(180px, calc(100dvh - 660px)) !important; }
  [id^='metrics-'] { min-height: 0; } [id^='metrics-'] p { font-size: 0.75rem; line-height: 1.3; }
  #title h1 { font-size: 1.1rem; } #title p { display: none; }
  #banner p { font-size: 0.7rem; }
  #verdict { max-height: 3.6em; overflow-y: auto; }
  [id^='pane-'] .examples {
    grid-template-columns: none !important; grid-auto-flow: column; grid-auto-columns: 62%; overflow-x: auto;
  }
}
"""
# On a phone the verdict scrolls in its few lines: a keyboard must reach it (axe-core's
# scrollable-region-focusable), so it takes the focus; set in the browser once the page loads.
FOCUSABLE_JS = "() => { document.querySelector('#verdict')?.setAttribute('tabindex', '0'); }"
# The phone's switch between the answers: a class on the panes' row, set in the browser alone.
SWITCH_JS = "(v) => { document.querySelector('#panes')?.classList.toggle('show-1', v !== SIDES[0]); }"
LATEX: list[dict[str, str | bool]] = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]


def settings_panel(comparison: Comparison) -> list[gr.components.Component]:
    """The settings' controls, in ``SETTINGS`` order, laid out in ``ROWS``; each shows the app's value,
    and a host's cap (``Comparison.caps``) is its slider's maximum."""
    values = defaults(comparison.settings, comparison.video, comparison.budget)
    controls: dict[str, gr.components.Component] = {}
    with gr.Accordion("Settings (the same for every side)", open=False, elem_id="settings"):
        for i, row in enumerate(ROWS):
            if row.heading:
                gr.Markdown(row.heading)
            group = gr.Row() if row.side_by_side else contextlib.nullcontext()
            with group:
                for s in SETTINGS:
                    if s.row == i:
                        controls[s.name] = control(s, values[s.name], comparison.caps.get(s.name))
    return [controls[name] for name in NAMES]


@dataclass
class Page:
    """The page's components that events read or write."""

    status: gr.Markdown
    conversation: gr.State
    panes: list[gr.Chatbot]
    metrics: list[gr.Markdown]
    box: gr.MultimodalTextbox
    notice: gr.Markdown  # why the last turn was refused; empty otherwise
    tokens: gr.Markdown  # the preview's token summary
    preview: gr.Gallery
    stop: gr.Button
    regenerate: gr.Button
    edit: gr.Button
    clear: gr.Button
    export: gr.Button
    settings: list[gr.components.Component]  # in ``SETTINGS`` order
    examples: Examples | None
    marks: list[gr.HighlightedText]
    plot: gr.LinePlot
    files: gr.File
    timer: gr.Timer  # start-up: until the engines are ready
    watch: gr.Timer  # afterwards: the status line says when an engine restarts
    verdict: gr.Markdown  # the verdict in words, above the panes
    heats: list[gr.HTML]  # one cross-score heat map per side but the reference (``Comparison.scored``)
    shared: gr.Markdown | None = None  # the share link's line (with a store)

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Every turn handler's outputs (``ui.session``'s order)."""
        details = [*self.marks, self.plot, self.verdict, *self.heats]
        return [self.box, *self.panes, *self.metrics, *details, self.notice, self.conversation]


class _TurnEvent(TypedDict):
    """How a turn's events are registered (``wire``)."""

    show_progress: Literal["full", "minimal", "hidden"]
    concurrency_limit: int | Literal["default"] | None
    preprocess: bool
    postprocess: bool
    trigger_mode: Literal["once", "multiple", "always_last"] | None


class _Changes(Protocol):
    """A control with a ``change`` event, as every setting's is (``ui.settings.control``)."""

    def change(self, *args: Any, **kwargs: Any) -> Dependency: ...


def render(
    comparison: Comparison,
    banner: str = "",
    examples_dir: Path | None = None,
    blind: BlindTest | None = None,
    blind_first: bool = False,
    sharer: Sharer | None = None,
) -> Page:
    """The page's components inside the current Blocks (the Evaluation and blind tabs with their own events)."""
    gr.Markdown(
        f"# {TITLE}\nThe same turn goes to every model at once; their answers stream side by side.", elem_id="title"
    )
    if banner:
        gr.Markdown(banner, elem_id="banner")
    status = gr.Markdown(elem_id="status")
    conversation = gr.State([])
    specs = comparison.pool.specs
    with gr.Tabs(elem_id="tabs", selected="blind" if blind is not None and blind_first else None):
        with gr.Tab("Comparison", id="comparison", elem_id="comparison-tab"):
            panes, metrics, marks, heats = [], [], [], []
            verdict = gr.Markdown(elem_id="verdict")
            labels = [s.label for s in specs]
            switch = gr.Radio(labels, value=labels[0], show_label=False, elem_id="answer-switch", container=False)
            with gr.Row(equal_height=True, elem_id="panes"):
                for i, spec in enumerate(specs):
                    with gr.Column(min_width=320, elem_id=f"side-{i}"):
                        shown = pane_examples(examples_dir) if examples_dir is not None and i == 0 else None
                        panes.append(
                            gr.Chatbot(
                                label=spec.title,
                                elem_id=f"pane-{i}",
                                buttons=["copy", "copy_all"],
                                latex_delimiters=LATEX,
                                examples=shown,  # once, in the first pane: a click sends it to every side
                                placeholder=None if i == 0 else f"{spec.label}'s answer to the same turn appears here.",
                            )
                        )
                        metrics.append(gr.Markdown(elem_id=f"metrics-{i}"))
            switch.change(None, [switch], None, js=SWITCH_JS.replace("SIDES[0]", repr(labels[0])))
            box = gr.MultimodalTextbox(
                elem_id="box",
                file_types=FILE_TYPES,  # text files and long pastes become prompt text (``ui.inputs``)
                max_plain_text_length=paste_limit(comparison.context),
                file_count="multiple",
                placeholder="Engines are loading…",
                interactive=False,
                show_label=False,
                sources=["upload"],
            )
            notice = gr.Markdown(elem_id="notice")
            tokens = gr.Markdown(elem_id="tokens")
            preview = gr.Gallery(
                label="What the model sees (token grid, sampled frames)",
                elem_id="preview",
                visible=False,
                columns=3,
                height=300,  # a small picture stays small; a large one fits the box
                object_fit="contain",
            )
            with gr.Row():
                stop = gr.Button("Stop", elem_id="stop")
                regenerate = gr.Button("Regenerate", elem_id="regenerate")
                edit = gr.Button("Edit last turn", elem_id="edit")
                clear = gr.Button("Clear", elem_id="clear")
                export = gr.Button("Export", elem_id="export")
            with gr.Accordion("What these numbers mean", open=False, elem_id="meanings"):
                gr.Markdown(glossary())
            settings = settings_panel(comparison)
            examples = None  # shown once, in the first pane (``ui.start``)
            with gr.Accordion("Where the answers part (latest turn)", open=True, elem_id="divergence"), gr.Row():
                for i, spec in enumerate(comparison.pool.specs):
                    marks.append(
                        gr.HighlightedText(
                            label=spec.label,
                            elem_id=f"marks-{i}",
                            color_map={DIVERGES: "red"},
                            show_legend=False,
                            combine_adjacent=True,
                        )
                    )
            with gr.Accordion("Each answer scored by the other model (latest turn)", elem_id="cross"):
                for i in comparison.scored:
                    heats.append(gr.HTML(elem_id=f"heat-{i}"))
            tiny = " — tiny random pair: not the 9B's speed" if any(s.tiny for s in specs) else ""
            plot = gr.LinePlot(
                x="seconds",
                y="tokens",
                color="side",
                title=f"Tokens over time (latest turn){tiny}",
                elem_id="plot",
                height=220,
            )
            files = gr.File(
                label="Comparison (JSON and Markdown)", file_count="multiple", visible=False, elem_id="files"
            )
            shared = share_controls(sharer, conversation) if sharer is not None else None
        with gr.Tab("Evaluation", id="evaluation", elem_id="evaluation-tab"):
            evaluation_tab(comparison)
        if blind is not None:
            with gr.Tab("Blind test", id="blind", elem_id="blind-tab"):
                blind_tab(blind, settings)
    timer, watch = gr.Timer(1.0), gr.Timer(3.0)
    return Page(
        status, conversation, panes, metrics, box, notice, tokens, preview, stop, regenerate, edit, clear, export,
        settings, examples, marks, plot, files, timer, watch, verdict, heats, shared,
    )  # fmt: skip


def wire(demo: gr.Blocks, page: Page, comparison: Comparison) -> None:
    """Bind the page's events to the comparison's handlers (inside ``demo``)."""
    p, outputs = page, page.outputs
    # no limit here: every turn enters its handler at once, which waits for a slot or says the demo is busy
    # and the components' processing runs in the handler's coroutine, not in a thread per component
    # and "multiple": the box unlocks when the answers end, while the last turn's handler still
    # cross-scores them; a new turn must start then (it ends that scoring: ``Comparison._supersede``)
    common: _TurnEvent = {
        "show_progress": "hidden",
        "concurrency_limit": None,
        "preprocess": False,
        "postprocess": False,
        "trigger_mode": "multiple",
    }
    # what ``respond`` receives: the box's message, the conversation, and the settings as one dict by name
    # (the API takes one named parameter per setting)
    settings = dict(zip(NAMES, p.settings, strict=True))
    turn: dict[str, gr.components.Component | Mapping[str, gr.components.Component]] = {
        "message": p.box,
        "conversation": p.conversation,
        "values": settings,
    }
    respond = bind(comparison.respond, turn, outputs)
    p.box.submit(respond.fn, respond.inputs, outputs, api_name="respond", **common)
    again = bind(comparison.respond, {**turn, "message": gr.State(REGENERATE)}, outputs)
    p.regenerate.click(again.fn, again.inputs, outputs, api_name="regenerate", **common)
    # Stop and Clear end a running or waiting turn from inside its handler (``ui.cancel``), not by
    # ``cancels=``: the handler's own last render is then the stopped (or cleared) turn
    p.stop.click(comparison.stop, [p.conversation], outputs, api_name="stop")
    p.edit.click(comparison.edit, [p.conversation], outputs, api_name="edit")
    p.clear.click(comparison.clear, [p.conversation], outputs, api_name="clear")
    # what the last comparison handed out goes with it: its export files and share link
    gone = [p.files] + ([p.shared] if p.shared is not None else [])
    forget = [gr.update(value=None, visible=False)] + ([""] if p.shared is not None else [])
    for trigger in [p.clear.click, *(pane.clear for pane in p.panes)]:
        trigger(lambda: forget, None, gone, show_progress="hidden", api_visibility="private")
    # A pane's own trash icon empties only that component in the browser; it clears the whole
    # comparison instead, like Clear, so the panes never show different conversations.
    for pane in p.panes:
        pane.clear(comparison.clear, [p.conversation], outputs, api_visibility="private")
        # the start screen: an example clicked in an empty pane goes into the box and is sent
        chosen = pane.example_select(picked(pane), None, [p.box], show_progress="hidden", api_visibility="private")
        chosen.success(respond.fn, respond.inputs, outputs, api_visibility="private", **common)
    p.export.click(comparison.export, [p.conversation], [p.files], api_name="export")
    p.export.click(comparison.exported, [p.conversation], [p.notice], show_progress="hidden", api_visibility="private")
    previewed = {name: settings[name] for name in PREVIEWED}
    warned = gr.State("")  # what the preview said in the notice (a problem with the box's files)
    preview = bind(
        comparison.preview, {"message": p.box, "conversation": p.conversation, "values": previewed, "warned": warned}
    )
    gr.on(
        [p.box.change, *(cast(_Changes, c).change for c in previewed.values())],
        preview.fn,
        preview.inputs,
        [p.preview, p.tokens, p.notice, warned],
        trigger_mode="always_last",
        show_progress="hidden",
        api_name="preview",
    )
    demo.unload(comparison.leave)

    def from_link(request: gr.Request) -> list[Any]:
        values, problems = preset(request.query_params, NAMES, p.settings)
        said = f"⚠️ Settings in the link that were ignored: {'; '.join(problems)}." if problems else gr.skip()
        return [gr.skip() if v is None else v for v in values] + [said]

    demo.load(from_link, None, [*p.settings, p.notice], show_progress="hidden", api_visibility="private")
    demo.load(None, None, None, js=FOCUSABLE_JS, api_visibility="private")
    poll_outputs = [p.status, p.box, p.timer]
    gr.on([demo.load, p.timer.tick], comparison.poll, None, poll_outputs, show_progress="hidden")
    p.watch.tick(comparison.status_line, None, [p.status], show_progress="hidden", api_name="status")
    if p.examples is not None:  # Gradio restores the box's constructor props (locked) with an example
        p.examples.load_input_event.then(comparison.poll, None, poll_outputs, show_progress="hidden")


def build_demo(
    comparison: Comparison,
    banner: str = "",
    examples_dir: Path | None = None,
    delete_cache: tuple[int, int] | None = None,
    blind: BlindTest | None = None,
    blind_first: bool = False,
    sharer: Sharer | None = None,
) -> gr.Blocks:
    cheap_skips()
    demo = gr.Blocks(title=TITLE, delete_cache=delete_cache)
    with demo:
        wire(demo, render(comparison, banner, examples_dir, blind, blind_first, sharer), comparison)
    return demo
