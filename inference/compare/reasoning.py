"""Split a Qwen3.5 answer into its reasoning and its reply.

Contract: with thinking on, Qwen3.5's chat template ends the prompt with ``<think>\\n``, so
the generated text is the reasoning, then ``</think>``, then the reply. ``split_reasoning``
is pure and works on a partial stream: until ``</think>`` arrives everything is reasoning.
With thinking off the template closes the think block itself and the whole text is reply.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Reasoned:
    """An answer split at ``</think>``: what the model reasoned, and what it replied."""

    reasoning: str  # empty when thinking is off
    reply: str
    closed: bool  # whether the reasoning has ended (always true with thinking off)


def split_reasoning(text: str, thinking: bool) -> Reasoned:
    """``text`` (an answer so far) as its reasoning and its reply; with ``thinking`` off, all reply."""
    if not thinking:
        return Reasoned("", text, True)
    text = text.removeprefix(OPEN) if text.lstrip().startswith(OPEN) else text
    head, sep, tail = text.partition(CLOSE)
    if not sep:
        return Reasoned(text.strip(), "", False)
    return Reasoned(head.strip(), tail.lstrip("\n"), True)
