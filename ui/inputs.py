"""A turn's input as the page receives it, checked before anything is sent.

Contract: ``as_turn(message)`` is the input box's value as a ``UserTurn`` (text stripped; every file
must lie in Gradio's upload folder, else ``DemoError``); ``check_length`` raises ``DemoError``
when a prepared turn's prompt and new tokens exceed the context on any side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio.utils as gr_utils

from inference.compare.transcript import Exchange
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn


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
    return UserTurn(text=(message.get("text") or "").strip(), files=tuple(p for p in files if p))


def check_length(
    engines: Sequence[Any],
    context: int | None,
    prepared: Prepared,
    history: list[Exchange],
    settings: GenerationSettings,
) -> None:
    """Refuse a turn whose prompt and new tokens exceed the context, before anything is sent.

    Tokenising is skipped when the text's UTF-8 bytes alone show it fits (a token is at
    least one byte), so an ordinary turn pays nothing for the check.
    """
    if context is None:
        return
    text = settings.system + "".join(t.text for t in prepared.turns)
    text += "".join(a.text for ex in history for a in ex.answers)
    slack = 64 * len(prepared.turns) + 2 * len(prepared.plans) + 64  # the template's own tokens, generously
    if len(text.encode()) + slack + prepared.visual_tokens + settings.max_tokens <= context:
        return
    for i, engine in enumerate(engines):
        answers = [past.split(i).reply for past in history]
        tokens = engine.prompt_tokens(prepared, answers, settings)
        if tokens + settings.max_tokens > context:
            raise DemoError(
                f"This turn's prompt is {tokens} tokens ({prepared.visual_tokens} visual); with "
                f"{settings.max_tokens} new tokens it exceeds the model's context of {context} tokens. "
                "Shorten the message, lower max new tokens or the media budgets (Settings), or press Clear."
            )
