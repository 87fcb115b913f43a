"""Which earlier turns a prompt keeps (``inference.compare.window``) and text files as prompt text
(``inference.inputs.documents``): pure, no engine; the sides' token counts are given by the test."""

from __future__ import annotations

import pytest

from inference.compare.window import fit, left_out
from inference.errors import DemoError
from inference.inputs.chat import UserTurn, prepare
from inference.inputs.documents import MAX_DOCUMENT_BYTES, as_text, with_documents


def words(n: int) -> str:
    return " ".join(["word"] * n)


def by_words(scale: dict[int, float]):
    """A side's count: its prompt's words times its own factor (two tokenizers that differ)."""

    def count(side, kept, answers):
        text = " ".join([t.text for t in kept.turns] + list(answers))
        return round(len(text.split()) * scale[side]) + kept.visual_tokens

    return count


def test_the_oldest_turns_are_left_out_until_the_largest_side_fits():
    turns = [UserTurn(words(1000)) for _ in range(5)]
    answers = [[words(1000)] * 4, [words(1000)] * 4]
    # side 1 counts 1.5 tokens a word: 5 turns and 4 answers are 13500 tokens there, 9000 on side 0
    window = fit(prepare(turns), answers, by_words({0: 1.0, 1: 1.5}), 500, 8192)
    # side 0 alone would keep 4 turns (7000 + 500); side 1 keeps 3 (7500 + 500): every side keeps 3
    assert window.first == 2 and window.prepared.turns == tuple(turns[2:])
    assert left_out(window.first) == "Turns 1–2 were left out of the prompt to fit the model's context."
    assert left_out(1) == "Turn 1 was left out of the prompt to fit the model's context." and left_out(0) == ""


def test_a_long_conversation_is_never_tokenised_much_beyond_what_is_kept():
    seen = []

    def count(side, kept, answers):
        seen.append(len(kept.turns))
        return by_words({0: 1.0})(side, kept, answers)

    turns = [UserTurn(words(1000)) for _ in range(50)]
    window = fit(prepare(turns), [[words(1000)] * 49], count, 500, 8192)
    assert window.first == 46  # 4 turns and 3 answers: 7000 tokens, + 500
    assert max(seen) <= 8 and len(seen) <= 6, seen  # probes of 1, 2, 4, 8 turns, then halving


def test_a_conversation_that_fits_is_kept_whole_without_counting():
    def never(*_):
        raise AssertionError("a conversation whose bytes fit needs no tokenising")

    turns = [UserTurn("Hello"), UserTurn("And again?")]
    window = fit(prepare(turns), [["Hi there."], ["Hello!"]], never, 256, 8192)
    assert window.first == 0 and window.prepared.turns == tuple(turns)


def test_only_a_latest_turn_that_cannot_fit_alone_is_refused():
    turns = [UserTurn(words(10)), UserTurn(words(8000))]
    with pytest.raises(DemoError, match=r"This turn's prompt is 8000 tokens \(0 visual\); with 500 new tokens"):
        fit(prepare(turns), [[words(10)]], by_words({0: 1.0}), 500, 8192)


def test_left_out_turns_take_their_media_along(media):
    image, video = str(media["image"]), str(media["video"])
    turns = [UserTurn(words(4000), (image,)), UserTurn(words(4000), (video,)), UserTurn(words(10), (image,))]
    prepared = prepare(turns)
    window = fit(prepared, [[words(4000)] * 2], by_words({0: 1.0}), 256, 8192)
    kept = window.prepared
    assert window.first == 2 and kept.turns == (turns[2],)
    assert kept.plans == prepared.plans[2:] and kept.multi_modal_data == {
        "image": [prepared.multi_modal_data["image"][1]]
    }
    assert kept.visual_tokens == prepared.plans[2].plan.tokens
    middle = prepared.since(1)
    assert set(middle.multi_modal_data) == {"image", "video"} and len(middle.plans) == 2


def test_media_limits_leave_out_old_turns_rather_than_refuse(media):
    image = str(media["image"])
    turns = [UserTurn("a", (image,) * 3), UserTurn("b", (image,) * 3), UserTurn("c", (image,) * 3)]
    window = fit(prepare(turns), [["x", "y"]], by_words({0: 1.0}), 16, 8192, limits={"image": 8})
    assert window.first == 1  # 9 images would be over 8; the latest two turns hold 6


def test_a_text_file_is_prompt_text_with_its_name(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Title\n\n```python\nprint(1)\n```\n", encoding="utf-8")
    text = as_text(notes)
    assert text.startswith("notes.md:\n````\n# Title") and text.endswith("print(1)\n```\n````")
    turn_text, rest = with_documents("What does it print?", [str(notes), "/u/cat.png"])
    assert turn_text == f"{text}\n\nWhat does it print?" and rest == ("/u/cat.png",)


def test_a_text_file_that_is_not_utf8_empty_or_too_big_is_refused_by_name(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    with pytest.raises(DemoError, match=r"latin.txt: not UTF-8 text \(byte 3 is not\)"):
        as_text(latin)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    with pytest.raises(DemoError, match=r"blank\.txt: the file holds no text"):
        as_text(blank)
    big = tmp_path / "big.txt"
    big.write_text("a" * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(DemoError, match=r"big\.txt: 1,000,001 bytes is more text than this demo reads"):
        as_text(big)
