"""``inference.compare.scores.compare`` and ``ui.presets.preset``: pure rules, no engine."""

from __future__ import annotations

import gradio as gr
import pytest

from inference.compare.scores import TokenScore, compare
from ui.presets import preset


def score(token: int, logprob: float, *top: tuple[int, float]) -> TokenScore:
    return TokenScore(token, logprob, top)


def test_a_position_is_decided_only_when_both_engines_lead_by_more_than_twice_the_tolerance():
    a = [score(1, -1.0, (1, -1.0), (2, -1.5)), score(3, -2.0, (3, -2.0), (4, -2.05))]
    b = [score(1, -1.01, (1, -1.01), (2, -1.5)), score(3, -2.01, (4, -2.0), (3, -2.01))]
    result = compare(a, b, tolerance=0.05)
    assert result.decided == (0,)  # position 1 leads by 0.05 and 0.01: a tie within rounding
    assert result.disagreements == ()  # its best tokens differ, and that is allowed
    assert result.largest_gap == pytest.approx(0.01)
    assert "1/2 positions decided" in result.summary()


def test_best_tokens_that_differ_at_a_decided_position_are_reported():
    a = [score(1, -1.0, (1, -1.0), (2, -2.0))]
    b = [score(1, -3.0, (2, -1.0), (1, -3.0))]
    assert compare(a, b, tolerance=0.05).disagreements == (0,)


def test_scores_of_different_tokens_are_not_compared():
    with pytest.raises(ValueError, match="not of the same tokens"):
        compare([score(1, -1.0, (1, -1.0))], [score(2, -1.0, (2, -1.0))], tolerance=0.05)


CONTROLS = ["max_tokens", "temperature", "seed", "enable_thinking", "system"]


def controls():
    return [
        gr.Slider(1, 8192, 256, step=1),
        gr.Slider(0, 2, 0, step=0.05),
        gr.Number(0, precision=0),
        gr.Checkbox(False),
        gr.Textbox(""),
    ]


def test_a_link_sets_each_setting_it_names_within_the_controls_bounds():
    query = {"max_tokens": "24", "temperature": "0.7", "seed": "7", "enable_thinking": "on", "system": "Be brief."}
    values, problems = preset(query, CONTROLS, controls())
    assert values == [24, 0.7, 7, True, "Be brief."] and problems == []
    assert preset({"__theme": "dark"}, CONTROLS, controls()) == ([None] * 5, [])  # Gradio's own parameter


def test_a_bad_value_in_a_link_is_ignored_with_a_sentence_and_the_rest_is_taken():
    query = {"max_tokens": "99999", "temperature": "warm", "seed": "1.5", "enable_thinking": "maybe"}
    values, problems = preset({**query, "system": "hi"}, CONTROLS, controls())
    assert values == [None, None, None, None, "hi"]
    assert problems == [
        "`max_tokens=99999` (outside 1 to 8192)",
        "`temperature=warm` (not a number)",
        "`seed=1.5` (not a whole number)",
        "`enable_thinking=maybe` (not on or off (1 or 0))",
    ]
