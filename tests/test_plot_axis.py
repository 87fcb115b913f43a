"""The tokens-over-time plot's y-axis (``ui.views.ceiling``, ``ui.views.y_range``): it ends at a round
value above the most tokens a side reached, not at its last tick (issue 25: the axis stopped at 15
while both lines reached 16). Plain values, no engine, no browser."""

from __future__ import annotations

import pytest

from inference.compare.metrics import Chunk
from inference.compare.transcript import Exchange
from inference.inputs.chat import GenerationSettings, UserTurn
from ui import views


def answered(tokens: tuple[int, ...]) -> Exchange:
    """A finished exchange whose sides produced ``tokens`` tokens, one chunk each."""
    ex = Exchange.start(UserTurn("hi"), GenerationSettings(max_tokens=max(tokens)), len(tokens), now=0.0)
    for i, n in enumerate(tokens):
        ids = tuple(range(97, 97 + n))
        ex.answers[i].add(Chunk("x" * n, n, 10, 0, ids, tuple(-0.5 for _ in ids), "length"), now=0.1)
        ex.answers[i].finish(0.5)
    return ex


def test_the_y_axis_of_a_16_token_turn_reaches_past_16():
    frame = views.plot(answered((16, 16)), ["FP8", "BF16"])
    assert frame["tokens"].max() == 16
    low, high = views.y_range(frame)
    assert low == 0 and high > 16 and high == 20


@pytest.mark.parametrize(("top", "ceiling"), [(1, 2), (8, 10), (15, 20), (16, 20), (24, 25), (64, 80), (256, 300)])
def test_the_ceiling_is_round_and_strictly_above_the_top(top, ceiling):
    assert views.ceiling(top) == ceiling


def test_an_empty_plot_gets_a_unit_axis():
    assert views.y_range(views.plot(None, ["FP8", "BF16"])) == (0.0, 1.0)
