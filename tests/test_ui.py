"""Narrow UI unit tests: rendering panes from a hand-made conversation (no engine, no server)."""

from __future__ import annotations

from inference.chat import UserTurn
from ui.session import EMPTY, STOPPED, Exchange, render


def test_each_pane_shows_the_shared_turn_and_its_own_answer():
    conversation = [Exchange(UserTurn("hi", ("/tmp/a.png",)), ["fp8 says", "bf16 says"], ["", ""], [True, True])]
    fp8, bf16 = render(conversation, 0), render(conversation, 1)
    assert (
        fp8[:2]
        == bf16[:2]
        == [
            {"role": "user", "content": {"path": "/tmp/a.png"}},
            {"role": "user", "content": "hi"},
        ]
    )
    assert fp8[2]["content"] == "fp8 says" and bf16[2]["content"] == "bf16 says"


def test_pending_empty_stopped_and_failed_answers_are_told_apart():
    ex = Exchange(UserTurn("q"), ["", "", "partial", ""], ["", "", STOPPED, "⚠️ BF16: boom"], [False, True, True, True])
    contents = [render([ex], side)[-1]["content"] for side in range(4)]
    assert contents == ["…", EMPTY, f"partial\n\n{STOPPED}", "⚠️ BF16: boom"]
