"""The bad-input corpus (``tests/helpers/corpus.py``), checked the way the app validates a turn: no engine, no app.

Each case goes through ``chat.prepare`` with the app's settings. A case expected to be answered
prepares and costs the tokens its plan says; a refused one raises the ``DemoError`` the user will
see, naming the file, never the server's folder.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from inference.errors import DemoError
from inference.inputs.chat import UserTurn, prepare
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget, plan_image, plan_video
from tests.helpers.corpus import ANSWER, Case, cases, shown_name

CASES = cases()
CATEGORIES = ("image", "video", "text", "filename")
# The prompt-token check (8192-token context) is not prepare's visual check: this case only has to
# raise no visual problem here, and the app's own check refuses it from its bytes (issue 27).
CONTEXT_CHECKED_BY_THE_APP = "text/100k-characters"
UPRIGHT_SIZE = {  # (width, height) the model must see where the file stores it otherwise
    "image/exif-rotated": (64, 96),  # stored 96x64, EXIF orientation 6
    "video/rotated-phone": (64, 96),  # stored 96x64, display matrix -90°
    "video/8k": (7680, 4320),
}


BUDGET = VisualBudget(video_max_tokens=4096)
LIMITS = {"image": 8, "video": 2}


def run(case: Case, files: list[Path]):
    """Validate one turn exactly as the app does (600 s videos, 8 images, 2 videos, 8192 tokens)."""
    return prepare(
        [UserTurn(case.text, tuple(map(str, files)))], VideoOptions(max_seconds=600), LIMITS, BUDGET, 8192, 8
    )


def test_the_corpus_has_enough_distinct_cases_in_every_category():
    assert len(CASES) >= 36
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names), [n for n, k in Counter(names).items() if k > 1]
    counts = Counter(case.category for case in CASES)
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 4, counts
    for case in CASES:
        assert case.name.startswith(f"{case.category}/") and case.expect and "\n" not in case.note, case.name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_case_is_answered_or_refused_by_name(case, tmp_path):
    files = case.make(tmp_path)
    assert all(f.parent == tmp_path and f.is_file() for f in files), files
    assert sum(f.stat().st_size for f in files) < 1_000_000  # the bomb and the 8K clip stay small on disk
    assert (case.category == "text") == (not files)
    if case.name == CONTEXT_CHECKED_BY_THE_APP:
        try:
            assert run(case, files).visual_tokens == 0
        except DemoError as err:  # once prepare counts prompt tokens too
            assert case.expect in str(err)
        return
    if case.expect == ANSWER:
        prepared = run(case, files)
        assert [p.name for p in prepared.plans] == [f.name for f in files]
        images = iter(prepared.multi_modal_data.get("image", []))
        videos = iter(prepared.multi_modal_data.get("video", []))
        planned = []
        for p in prepared.plans:  # the plan follows what was decoded, turned upright
            if p.kind == "image":
                image = next(images)
                width, height = image.size
                assert image.mode == "RGB" and p.plan == plan_image(height, width, BUDGET, p.name)
            else:
                frames, _ = next(videos)
                width, height = frames.shape[2], frames.shape[1]
                assert frames.shape[0] % 2 == 0 and p.plan == plan_video(frames.shape[0], height, width, BUDGET, p.name)
            planned.append(p.plan.tokens)
            if case.name in UPRIGHT_SIZE:
                assert (width, height) == UPRIGHT_SIZE[case.name]
        assert prepared.visual_tokens == sum(planned)
        assert (prepared.visual_tokens > 0) == bool(files) and all(planned)
        return
    with pytest.raises(DemoError) as err:
        run(case, files)
    message = str(err.value)
    assert case.expect in message, message
    assert str(tmp_path) not in message  # the name, never the server's folder
    if files:
        assert files[-1].name in message, message  # a refused case names its last file


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("filename/backslashes", "....evil.png"),
        ("filename/html", "img src=x onerror=window.__pwned=1.png"),
        ("filename/html-refused", "img src=x onerror=window.__pwned=1broken.png"),
        ("filename/quotes", "it's quoted x.png"),
        ("filename/windows-reserved", "_CON.png"),
        ("filename/percent-2f", "..%2F..%2Fevil.png"),
        ("filename/unicode", "日本語 画像 🎞.png"),
        ("filename/very-long", "n" * 196 + ".png"),
    ],
)
def test_gradio_renames_some_uploads_and_keeps_their_suffix(tmp_path, name, shown):
    """The app sees, and its messages show, Gradio's name for an upload (``shown_name``)."""
    (path,) = next(case for case in CASES if case.name == name).make(tmp_path)
    assert shown_name(path) == shown
