"""A turn's input as the page receives it, checked before anything is sent.

Contract: ``as_turn(message)`` is the input box's value as a ``UserTurn`` (text stripped; every file
must lie in Gradio's upload folder, else ``DemoError``; ``.txt``/``.md`` files folded into the text
with their names, ``inference.inputs.documents``); ``FILE_TYPES`` and ``paste_limit`` are what the
box accepts and how long a paste stays text; ``window_for`` is which earlier turns
every side's prompt keeps beside the answer (``DemoError`` when the latest turn alone does not fit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio.utils as gr_utils

from inference.compare.transcript import Exchange
from inference.compare.window import Window, fit
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn
from inference.inputs.documents import DOCUMENT_SUFFIXES, with_documents

CHARS_PER_TOKEN = 4  # English text, for a byte-level BPE tokenizer such as Qwen's: about 4 characters per token
UNKNOWN_CONTEXT = 32768  # a remote side's context before its server answered
FILE_TYPES = ["image", "video", *sorted(DOCUMENT_SUFFIXES)]  # what the box accepts


def as_turn(message: dict[str, Any] | None) -> UserTurn:
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
    text, media = with_documents((message.get("text") or "").strip(), [p for p in files if p])
    return UserTurn(text=text, files=media)


def paste_limit(context: int | None) -> int:
    """The box's ``max_plain_text_length``: a paste up to the context (at ``CHARS_PER_TOKEN``) stays
    text in the box; a longer one becomes Gradio's ``pasted_text.txt``, which is read as text too."""
    return max(1000, CHARS_PER_TOKEN * (context or UNKNOWN_CONTEXT))


def window_for(
    engines: Sequence[Any],
    context: int | None,
    prepared: Prepared,
    history: list[Exchange],
    settings: GenerationSettings,
    limits: Mapping[str, int] | None = None,
) -> Window:
    """The turns of ``prepared`` every side's prompt keeps (``inference.compare.window``), each side
    counted by its own engine with its own earlier answers; ``DemoError`` when the latest turn alone
    does not fit."""
    answers = [[past.split(i).reply for past in history] for i in range(len(engines))]

    def count(side: int, kept: Prepared, earlier: Sequence[str]) -> int:
        return engines[side].prompt_tokens(kept, earlier, settings)

    return fit(prepared, answers, count, settings.max_tokens, context, limits, settings.system)
