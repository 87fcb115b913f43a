"""Text files in a turn: a ``.txt`` or ``.md`` file (uploaded, or a long paste the page made one) is prompt text.

Contract: ``is_document(path)`` says whether a file is read as text; ``as_text(path)`` is the
file as prompt text with its name: the name, then its content in a fenced block (the fence
longer than any backtick run inside, so a Markdown file's own code blocks stay inside).
``with_documents(text, files)`` folds a turn's text files into its text, in upload order and
before what was typed, and returns the text and the files left (images and videos): every side
then sees the same text, counted in tokens like any other. A file that is not UTF-8 or is over
``MAX_DOCUMENT_BYTES`` is a ``DemoError`` naming it; with ``max_bytes``, files and text together
over it are ``TooLong`` (a ``DemoError``) before any file is read (their sizes on disk). Pure: no UI, no engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from inference.errors import DemoError

DOCUMENT_SUFFIXES = frozenset({".txt", ".md"})
MAX_DOCUMENT_BYTES = 1_000_000  # read at most this much; the context check counts what is read in tokens


class TooLong(DemoError):
    """Text refused from its length alone (nothing was read or tokenised); ``reason`` for the metrics."""

    reason = "input_too_long"


def is_document(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DOCUMENT_SUFFIXES


def as_text(path: str | Path) -> str:
    """The file as prompt text: its name, then its content fenced."""
    name = Path(path).name
    try:
        size = Path(path).stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DemoError(
                f"{name}: {size:,} bytes is more text than this demo reads ({MAX_DOCUMENT_BYTES:,} bytes); "
                "send a shorter part of it."
            )
        content = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        why = f"{name}: not UTF-8 text (byte {err.start} is not); save it as UTF-8 and attach it again."
        raise DemoError(why) from None
    except OSError as err:
        raise DemoError(f"{name}: the upload is gone ({err.strerror}); attach it again.") from err
    content = content.removeprefix("\ufeff").strip("\n")
    if not content.strip():
        raise DemoError(f"{name}: the file holds no text.")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{name}:\n{fence}\n{content}\n{fence}"


def with_documents(text: str, files: Sequence[str], max_bytes: int | None = None) -> tuple[str, tuple[str, ...]]:
    """The turn's text with its text files folded in (before the typed text), and the other files;
    ``max_bytes``: the most the text and the files may hold together, checked before reading any."""
    if max_bytes is not None:
        sizes = [_size(f) for f in files if is_document(f)]
        total = len(text) + sum(sizes)  # characters: at most the bytes, and no copy of a long text
        if total > max_bytes or len(text.encode()) + sum(sizes) > max_bytes:
            what = "text and files hold" if sizes else "text holds"
            raise TooLong(
                f"This turn's {what} more than {max_bytes:,} bytes, more than the models' context can take; "
                "send a shorter part of it."
            )
    documents = [as_text(f) for f in files if is_document(f)]
    text = "\n\n".join([*documents, text] if text else documents)
    return text, tuple(f for f in files if not is_document(f))


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # said by ``as_text`` when it reads it
