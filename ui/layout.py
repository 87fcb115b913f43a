"""The page: one multimodal input, one chat pane per side, Stop and Clear.

Contract: ``build_demo(comparison, banner)`` returns a ``gr.Blocks`` whose panes are built in
a loop over the comparison's sides (no per-side code), whose input stays locked until every
engine is ready (a timer polls the start-up status), and whose Stop and Clear cancel a
running turn. It launches nothing.
"""

from __future__ import annotations

import gradio as gr

from ui.session import Comparison

TITLE = "Qwen3.5-9B: FP8 next to BF16"
CSS = ".pane {min-width: 320px}"


def build_demo(comparison: Comparison, banner: str = "") -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nThe same turn goes to every model at once; their answers stream side by side.")
        if banner:
            gr.Markdown(banner, elem_id="banner")
        status = gr.Markdown(elem_id="status")
        conversation = gr.State([])
        with gr.Row(equal_height=True):
            panes = [
                gr.Chatbot(
                    label=spec.title,
                    elem_id=f"pane-{i}",
                    elem_classes="pane",
                    height=480,
                    buttons=["copy"],
                )
                for i, spec in enumerate(comparison.pool.specs)
            ]
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
        timer = gr.Timer(1.0)

        outputs = [box, *panes, conversation]
        turn = box.submit(
            comparison.respond,
            [box, conversation],
            outputs,
            show_progress="hidden",
            concurrency_limit=8,
            api_name="respond",
        )
        stop.click(comparison.stop, [conversation], outputs, cancels=[turn], api_name="stop")
        clear.click(comparison.clear, None, outputs, cancels=[turn], api_name="clear")
        gr.on([demo.load, timer.tick], comparison.poll, None, [status, box, timer], show_progress="hidden")
    return demo
