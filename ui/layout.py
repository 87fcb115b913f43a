"""The page: one multimodal input, one chat pane (metrics, divergence view) per side, settings, tools.

Contract: ``build_demo(comparison, banner, examples_dir)`` returns a ``gr.Blocks`` whose
per-side components are built in a loop over the comparison's sides (no per-side code),
whose input stays locked until every engine is ready (a timer polls the start-up status),
whose settings go to every side alike, whose Stop and Clear cancel a running turn, and whose
examples (from ``inference.inputs.samples``) fill the input when clicked, and whose link can preset the
settings (``ui.presets``: ``/?max_tokens=24``). A second tab runs the
built-in evaluation on the same engines (``ui.evaluation``). It launches nothing; ``CSS`` is
for the launch. The turn events run their components' processing inline (``ui.inline``).
API names: /respond, /regenerate, /edit, /stop, /clear, /export, /poll, /evaluate.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from inference.inputs.samples import EXAMPLES
from ui.evaluation import evaluation_tab
from ui.inline import inline
from ui.presets import preset
from ui.session import DIVERGES, REGENERATE, SETTINGS, VISUAL, Comparison

TITLE = "Qwen3.5-9B: FP8 next to BF16"
# For ``launch(css=...)``: the figures under the panes keep their height while they stream (their
# numbers change width and the lines re-wrap), so the buttons below do not move under the pointer.
CSS = "[id^='metrics-'] { min-height: 7em; }"
LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]


def settings_panel(comparison: Comparison) -> list[gr.components.Component]:
    """Sampling settings, in ``SETTINGS`` order; defaults are fair: greedy, fixed seed, no penalties."""
    d = comparison.settings
    with gr.Accordion("Settings (the same for every side)", open=False, elem_id="settings"):
        with gr.Row():
            controls = {
                "max_tokens": gr.Slider(1, 8192, d.max_tokens, step=1, label="Max new tokens", elem_id="max-tokens"),
                "temperature": gr.Slider(0, 2, d.temperature, step=0.05, label="Temperature (0: greedy)"),
                "top_p": gr.Slider(0.05, 1, d.top_p, step=0.05, label="Top-p"),
                "top_k": gr.Slider(0, 200, d.top_k, step=1, label="Top-k (0: off)"),
                "seed": gr.Number(d.seed, precision=0, label="Seed"),
            }
        with gr.Row():
            controls["presence_penalty"] = gr.Slider(-2, 2, d.presence_penalty, step=0.1, label="Presence penalty")
            controls["repetition_penalty"] = gr.Slider(
                1, 2, d.repetition_penalty, step=0.05, label="Repetition penalty (1: off)"
            )
            controls["enable_thinking"] = gr.Checkbox(
                d.enable_thinking, label="Thinking (Qwen3.5 reasons before it replies)", elem_id="thinking"
            )
        controls["system"] = gr.Textbox(d.system, label="System prompt", lines=2)
        b, v = comparison.budget, comparison.video
        gr.Markdown("**What the model sees** (32 px per visual token; a temporal patch is 2 frames)")
        with gr.Row():
            controls["image_max_tokens"] = gr.Slider(
                64, 16384, b.image_max_tokens, step=64, label="Image budget (tokens per image)", elem_id="image-budget"
            )
            controls["video_fps"] = gr.Slider(0.5, 4, v.fps, step=0.5, label="Video frames per second", elem_id="fps")
            controls["video_max_frames"] = gr.Slider(2, 128, v.max_frames, step=2, label="Max frames per video")
            controls["video_max_tokens"] = gr.Slider(
                128, 32768, b.video_max_tokens, step=128, label="Video budget (max tokens per video)"
            )
    return [controls[name] for name in SETTINGS]


def build_demo(
    comparison: Comparison,
    banner: str = "",
    examples_dir: Path | None = None,
    delete_cache: tuple[int, int] | None = None,
) -> gr.Blocks:
    with gr.Blocks(title=TITLE, delete_cache=delete_cache) as demo:
        gr.Markdown(f"# {TITLE}\nThe same turn goes to every model at once; their answers stream side by side.")
        if banner:
            gr.Markdown(banner, elem_id="banner")
        status = gr.Markdown(elem_id="status")
        conversation = gr.State([])
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Comparison", id="comparison", elem_id="comparison-tab"):
                panes, metrics, marks = [], [], []
                with gr.Row(equal_height=True):
                    for i, spec in enumerate(comparison.pool.specs):
                        with gr.Column(min_width=320):
                            panes.append(
                                gr.Chatbot(
                                    label=spec.title,
                                    elem_id=f"pane-{i}",
                                    height=480,
                                    buttons=["copy", "copy_all"],
                                    latex_delimiters=LATEX,
                                )
                            )
                            metrics.append(gr.Markdown(elem_id=f"metrics-{i}"))
                box = gr.MultimodalTextbox(
                    elem_id="box",
                    file_types=["image", "video"],
                    file_count="multiple",
                    placeholder="Engines are loading…",
                    interactive=False,
                    show_label=False,
                    sources=["upload"],
                )
                notice = gr.Markdown(elem_id="notice")  # why the last turn was refused; empty otherwise
                tokens = gr.Markdown(elem_id="tokens")
                preview = gr.Gallery(
                    label="What the model sees (token grid, sampled frames)",
                    elem_id="preview",
                    visible=False,
                    columns=3,
                    height="auto",
                    object_fit="contain",
                )
                with gr.Row():
                    stop = gr.Button("Stop", elem_id="stop", variant="stop")
                    regenerate = gr.Button("Regenerate", elem_id="regenerate")
                    edit = gr.Button("Edit last turn", elem_id="edit")
                    clear = gr.Button("Clear", elem_id="clear")
                    export = gr.Button("Export", elem_id="export")
                settings = settings_panel(comparison)
                examples = None
                if examples_dir is not None:
                    examples = gr.Examples(
                        [[{"text": e.text, "files": [str(examples_dir / f) for f in e.files]}] for e in EXAMPLES],
                        inputs=[box],
                        label="Examples (media made by the project)",
                        examples_per_page=len(EXAMPLES),
                    )
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
                plot = gr.LinePlot(
                    x="seconds",
                    y="tokens",
                    color="side",
                    title="Tokens over time (latest turn)",
                    elem_id="plot",
                    height=220,
                )
                files = gr.File(
                    label="Comparison (JSON and Markdown)", file_count="multiple", visible=False, elem_id="files"
                )
            with gr.Tab("Evaluation", id="evaluation", elem_id="evaluation-tab"):
                evaluation_tab(comparison)
        timer = gr.Timer(1.0)  # start-up: until the engines are ready
        watch = gr.Timer(3.0)  # afterwards: the status line says when an engine restarts

        outputs = [box, *panes, *metrics, *marks, plot, notice, conversation]
        # no limit here: every turn enters its handler at once, which waits for a slot or says the demo is busy
        # and the components' processing runs in the handler's coroutine, not in a thread per component
        common = {"show_progress": "hidden", "concurrency_limit": None, "preprocess": False, "postprocess": False}
        turn_inputs = [box, conversation, *settings]
        respond = inline(comparison.respond, turn_inputs, outputs)
        turn = box.submit(respond, turn_inputs, outputs, api_name="respond", **common)
        again_inputs = [gr.State(REGENERATE), conversation, *settings]
        again = regenerate.click(
            inline(comparison.respond, again_inputs, outputs), again_inputs, outputs, api_name="regenerate", **common
        )
        running = [turn, again]
        stop.click(comparison.stop, [conversation], outputs, cancels=running, api_name="stop")
        edit.click(comparison.edit, [conversation], outputs, api_name="edit")
        clear.click(comparison.clear, [conversation], outputs, cancels=running, api_name="clear")
        export.click(comparison.export, [conversation], [files], api_name="export")
        visual = [settings[SETTINGS.index(name)] for name in ("max_tokens", *VISUAL)]
        gr.on(
            [box.change, *(c.change for c in visual)],
            comparison.preview,
            [box, conversation, *visual],
            [preview, tokens],
            trigger_mode="always_last",
            show_progress="hidden",
            api_name="preview",
        )
        demo.unload(comparison.leave)

        def from_link(request: gr.Request):
            values, problems = preset(request.query_params, SETTINGS, settings)
            said = f"⚠️ Settings in the link that were ignored: {'; '.join(problems)}." if problems else gr.skip()
            return [gr.skip() if v is None else v for v in values] + [said]

        demo.load(from_link, None, [*settings, notice], show_progress="hidden", api_visibility="private")
        gr.on([demo.load, timer.tick], comparison.poll, None, [status, box, timer], show_progress="hidden")
        watch.tick(comparison.status_line, None, [status], show_progress="hidden", api_name="status")
        if examples is not None:  # Gradio restores the box's constructor props (locked) with an example
            examples.load_input_event.then(comparison.poll, None, [status, box, timer], show_progress="hidden")
    return demo
