"""The page: one multimodal input, one chat pane (and metrics line) per side, settings, Stop, Clear.

Contract: ``build_demo(comparison, banner)`` returns a ``gr.Blocks`` whose panes are built in
a loop over the comparison's sides (no per-side code), whose input stays locked until every
engine is ready (a timer polls the start-up status), whose settings go to every side alike,
and whose Stop and Clear cancel a running turn. It launches nothing.
"""

from __future__ import annotations

import gradio as gr

from ui.session import SETTINGS, Comparison

TITLE = "Qwen3.5-9B: FP8 next to BF16"


def settings_panel(comparison: Comparison) -> list[gr.components.Component]:
    """Sampling settings, in ``SETTINGS`` order; defaults are fair: greedy, fixed seed."""
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
            controls["system"] = gr.Textbox(d.system, label="System prompt", lines=2, scale=4)
            controls["enable_thinking"] = gr.Checkbox(d.enable_thinking, label="Thinking (Qwen3.5 template)")
    return [controls[name] for name in SETTINGS]


def build_demo(comparison: Comparison, banner: str = "") -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nThe same turn goes to every model at once; their answers stream side by side.")
        if banner:
            gr.Markdown(banner, elem_id="banner")
        status = gr.Markdown(elem_id="status")
        conversation = gr.State([])
        panes, metrics = [], []
        with gr.Row(equal_height=True):
            for i, spec in enumerate(comparison.pool.specs):
                with gr.Column(min_width=320):
                    panes.append(gr.Chatbot(label=spec.title, elem_id=f"pane-{i}", height=480, buttons=["copy"]))
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
        with gr.Row():
            stop = gr.Button("Stop", elem_id="stop", variant="stop")
            clear = gr.Button("Clear", elem_id="clear")
        settings = settings_panel(comparison)
        timer = gr.Timer(1.0)

        outputs = [box, *panes, *metrics, conversation]
        turn = box.submit(
            comparison.respond,
            [box, conversation, *settings],
            outputs,
            show_progress="hidden",
            concurrency_limit=8,
            api_name="respond",
        )
        stop.click(comparison.stop, [conversation], outputs, cancels=[turn], api_name="stop")
        clear.click(comparison.clear, [conversation], outputs, cancels=[turn], api_name="clear")
        demo.unload(comparison.leave)
        gr.on([demo.load, timer.tick], comparison.poll, None, [status, box, timer], show_progress="hidden")
    return demo
