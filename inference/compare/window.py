"""Which earlier turns a prompt keeps: the newest ones that fit beside the answer, the same on every side.

Contract: ``fit(prepared, answers, count, max_tokens, context, limits, system)`` returns a ``Window``:
the index of the oldest turn kept (``first``; the turns before it are left out of the prompt,
whole, with their images and videos) and the conversation from there (``prepared``). It keeps
as many of the latest turns as every side's prompt plus ``max_tokens`` new tokens fits in
``context`` and the kept media stay within ``limits``. Every side keeps the same turns (a
comparison of different prompts would not be one): a turn is kept only when the *largest*
prompt among the sides fits, which is the intersection of what fits on each side, since a
prompt never grows when older turns are left out. Only a latest turn that cannot fit on its
own raises ``DemoError``. ``left_out(first)`` is the sentence the page shows. Pure: the sides'
token counts come in through ``count``; no engine, no UI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from inference.errors import DemoError
from inference.inputs.chat import Prepared
from inference.inputs.media import media_kind

# A side's prompt tokens for a conversation, given its index and that side's earlier answers.
Count = Callable[[int, Prepared, Sequence[str]], int]
TEMPLATE_SLACK = 64  # the chat template's own tokens per turn (role markers), generously


@dataclass(frozen=True)
class Window:
    first: int  # the oldest turn kept; turns 0 .. first - 1 are left out
    prepared: Prepared  # the kept turns with their media, ready for every side


def left_out(first: int) -> str:
    """The page's sentence for ``first`` turns left out ("" when none was)."""
    if first <= 0:
        return ""
    turns = "Turn 1 was" if first == 1 else f"Turns 1–{first} were"
    return f"{turns} left out of the prompt to fit the model's context."


def _bytes_fit(
    prepared: Prepared, answers: Sequence[Sequence[str]], max_tokens: int, context: int, system: str
) -> bool:
    """Whether the text's UTF-8 bytes alone show that every side fits (a token is at least one byte),
    so an ordinary turn pays nothing for tokenising."""
    text = system + "".join(t.text for t in prepared.turns)
    longest = max((sum(len(a.encode()) for a in side) for side in answers), default=0)
    slack = TEMPLATE_SLACK * (len(prepared.turns) + 1) + 2 * len(prepared.plans)
    return len(text.encode()) + longest + slack + prepared.visual_tokens + max_tokens <= context


def fit(
    prepared: Prepared,
    answers: Sequence[Sequence[str]],
    count: Count,
    max_tokens: int,
    context: int | None,
    limits: Mapping[str, int] | None = None,
    system: str = "",
) -> Window:
    """The newest turns of ``prepared`` that fit on every side (``answers``: each side's answers to
    the earlier turns, oldest first); ``DemoError`` when the latest turn alone does not fit."""
    n = len(prepared.turns)
    if any(len(side) != n - 1 for side in answers):
        raise ValueError(f"need {n - 1} earlier answers per side")
    sizes: dict[int, int] = {}  # first -> the largest prompt among the sides

    def size(first: int) -> int:
        if first not in sizes:
            kept = prepared.since(first)
            sizes[first] = max(count(i, kept, side[first:]) for i, side in enumerate(answers))
        return sizes[first]

    def fits(first: int) -> bool:
        kept = prepared.since(first)
        kinds: list[str] = [media_kind(f) for turn in kept.turns for f in turn.files]
        if any(kinds.count(kind) > limit for kind, limit in (limits or {}).items()):
            return False
        if context is None or _bytes_fit(kept, [s[first:] for s in answers], max_tokens, context, system):
            return True
        return size(first) + max_tokens <= context

    if not fits(n - 1):
        latest = prepared.since(n - 1)
        raise DemoError(
            f"This turn's prompt is {size(n - 1)} tokens ({latest.visual_tokens} visual); with {max_tokens} new "
            f"tokens it exceeds the model's context of {context} tokens. Shorten the message, or lower max new "
            "tokens or the media budgets (Settings)."
        )
    # Gallop back from the latest turn (1, 2, 4, ... turns), then halve: the prompts tokenised stay
    # about as long as the turns kept, however long the conversation has grown (at most about twice
    # the whole conversation when it all fits). ``good`` turns fit; ``bad`` do not (n + 1: all fit).
    good, bad = 1, n + 1
    while good < n:
        probe = min(2 * good, n)
        if not fits(n - probe):
            bad = probe
            break
        good = probe
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(n - middle) else (good, middle)
    return Window(n - good, prepared.since(n - good))
