"""A turn's input as the page receives it, checked before anything is sent.

Contract: ``as_turn(message)`` is the input box's value as a ``UserTurn`` (text stripped; every file
must lie in Gradio's upload folder, else ``DemoError``; ``.txt``/``.md`` files folded into the text
with their names, ``inference.inputs.documents``; with ``max_bytes``, text over it is refused before
any file is read or anything is tokenised: ``text_limit(context)``, what no text that fits a
context of that many tokens exceeds); ``FILE_TYPES`` and ``paste_limit`` are what the
box accepts and how long a paste stays text; ``window_for`` is which earlier turns
every side's prompt keeps beside the answer (``DemoError`` when the latest turn alone does not fit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inference.compare.transcript import Exchange
from inference.compare.window import Window, fit
from inference.engines.base import Backend
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn
from inference.inputs.documents import DOCUMENT_SUFFIXES, TooLong, with_documents
from ui.gradio_adapter import upload_folder

CHARS_PER_TOKEN = 4  # English text, for a byte-level BPE tokenizer such as Qwen's: about 4 characters per token
UNKNOWN_CONTEXT = 32768  # a remote side's context before its server answered
FILE_TYPES = ["image", "video", *sorted(DOCUMENT_SUFFIXES)]  # what the box accepts
# The most UTF-8 bytes one token of text covers in practice (English ~4, code ~3, CJK ~3 per 1-2
# tokens): a text longer than this many bytes per token of context cannot fit, so it is refused from
# its length alone, before tokenising it (which would cost seconds per megabyte).
MAX_BYTES_PER_TOKEN = 8


def text_limit(context: int | None) -> int:
    """The most bytes of text (typed, files and system prompt) a turn may hold for ``context`` tokens."""
    return MAX_BYTES_PER_TOKEN * (context or UNKNOWN_CONTEXT)


def check_system(system: str, max_bytes: int) -> None:
    """The system prompt alone over ``max_bytes`` is a ``DemoError`` (checked before tokenising)."""
    if len(system) > max_bytes or len(system.encode()) > max_bytes:
        raise TooLong(
            f"The system prompt holds more than {max_bytes:,} bytes, more than the models' context can take; "
            "shorten it (Settings)."
        )


def as_turn(message: dict[str, Any] | None, max_bytes: int | None = None) -> UserTurn:
    """The box's value as a turn; every file must lie in Gradio's upload folder (Gradio already
    refuses a forged path; this keeps the handlers from ever reading anything else); text and text
    files over ``max_bytes`` together are refused before any is read."""
    message = message or {}
    files = []
    for f in message.get("files") or []:
        files.append(f if isinstance(f, str) else f.get("path"))
    uploads = Path(upload_folder()).resolve()
    for f in filter(None, files):
        if not Path(f).resolve().is_relative_to(uploads):
            raise DemoError(f"{Path(f).name}: not a file uploaded to this page; attach it again.")
    text = message.get("text") or ""
    if not isinstance(text, str):
        raise DemoError("The message's text must be a string.")
    text, media = with_documents(text.strip(), [p for p in files if p], max_bytes)
    return UserTurn(text=text, files=media)


def paste_limit(context: int | None) -> int:
    """The box's ``max_plain_text_length``: a paste up to the context (at ``CHARS_PER_TOKEN``) stays
    text in the box; a longer one becomes Gradio's ``pasted_text.txt``, which is read as text too."""
    return max(1000, CHARS_PER_TOKEN * (context or UNKNOWN_CONTEXT))


def window_for(
    engines: Sequence[Backend],
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
