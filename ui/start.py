"""The start screen: every empty pane shows the examples; a click sends that example to every side.

Contract: ``pane_examples(examples_dir)`` is one pane's ``gr.Chatbot(examples=...)`` list, built
from ``inference.inputs.samples.EXAMPLES`` (a fresh list per pane: Gradio rewrites its files into
served copies in place). Gradio's Chatbot shows them while it holds no message, so they go once a
conversation starts and come back after Clear. ``picked(pane)`` is the ``example_select`` handler
that puts the clicked example, by its index in the pane's own list (never a path the browser
sends), into the input box as its value; ``ui.layout`` chains the turn handler after it (on
success), so the click sends the turn, as a first visitor who clicks a suggestion in an empty chat
expects (the gallery under the box still only fills the box, for editing first).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from inference.inputs.samples import EXAMPLES

if TYPE_CHECKING:  # an annotation only: the example type ``gr.Chatbot(examples=...)`` takes
    from gradio.components.chatbot import ExampleMessage


def pane_examples(examples_dir: Path) -> list[ExampleMessage]:
    """The examples as a Chatbot shows them (Gradio draws each file's thumbnail): text and files."""
    out = []
    for e in EXAMPLES:
        example: ExampleMessage = {"text": e.text}
        if e.files:
            example["files"] = [str(examples_dir / f) for f in e.files]
        out.append(example)
    return out


def picked(pane: gr.Chatbot) -> Callable[[gr.SelectData], dict[str, Any]]:
    """The ``example_select`` handler of ``pane``: the clicked example as the input box's value."""

    def pick(selected: gr.SelectData) -> dict[str, Any]:
        example = (pane.examples or [])[selected.index]
        files = [f["path"] if isinstance(f, dict) else f for f in example.get("files", [])]
        return {"text": example.get("text", ""), "files": files}

    return pick
