"""The bad-input corpus (``tests/helpers/corpus.py``) through the running app, one case at a time.

For every case, in a session of its own: a first turn, then the case, then a follow-up. An
unusual but valid input is answered on both sides; a bad one is refused with a message that
says what is wrong and names the file as the user knows it (never a server path), while the
history, the input box and both sides stay as they were; either way the follow-up is
answered on both sides. Memory and scratch files are measured around the whole corpus.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import psutil
import pytest
from gradio_client import Client, handle_file

from tests.helpers.clients import answers, notice, split
from tests.helpers.clients import client as app_client
from tests.helpers.corpus import ANSWER, cases, shown_name
from tests.helpers.servers import serve

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

TOKENS = 6  # per answer (ignore_eos: exactly this many)
CASES = cases()


@pytest.fixture(scope="module")
def app(tiny_dir):
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    with serve(cpu_pair(tiny_dir), GenerationSettings(max_tokens=TOKENS, ignore_eos=True)) as served:
        yield served


def footprint() -> dict[str, float]:
    """Memory of this process (the app) and its EngineCores, and the files in the temp folders."""
    gc.collect()
    me = psutil.Process()
    rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
    temp = Path(tempfile.gettempdir())
    files = sum(1 for p in temp.glob("gradio/**/*") if p.is_file())
    files += sum(1 for p in temp.glob("qwen-demo-*/**/*") if p.is_file())
    return {"rss_mb": rss / 2**20, "temp_files": files}


@pytest.fixture(scope="module")
def measured(app, figures):
    before = footprint()
    served = {"turns": 0, "before": before, "answered": 0, "refused": 0}
    yield served
    after = footprint()
    mine = figures["test_reliability"]
    mine["turns served"] = served["turns"]
    mine["cases answered / refused with a message"] = f"{served['answered']} / {served['refused']}"
    mine["memory (app + EngineCores)"] = f"{before['rss_mb']:.0f} → {after['rss_mb']:.0f} MB"
    mine["temp files"] = f"{before['temp_files']} → {after['temp_files']}"


def _turn(client: Client, text: str, files: list[Path]):
    update = client.predict({"text": text, "files": [handle_file(str(f)) for f in files]}, api_name="/respond")
    box, panes, metrics = split(update)
    return box, panes, metrics, notice(update)  # an answered turn sets it once, to ""


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_corpus_case_is_answered_or_refused_and_nothing_else_is_lost(case, app, measured, tmp_path):
    client = app_client(app[0])
    files = case.make(tmp_path)
    _, before, _, _ = _turn(client, "Hello", [])
    box, panes, metrics, notice = _turn(client, case.text, files)
    measured["turns"] += 2
    measured["answered" if case.expect == ANSWER else "refused"] += 1
    if case.expect == ANSWER:
        assert notice == "", notice
        for pane, line in zip(panes, metrics, strict=True):
            assert len(answers(pane)) == 2 and not answers(pane)[-1].startswith("⚠️"), answers(pane)[-1]
            assert f"{TOKENS} tokens" in line
        users = [m for m in panes[0] if m["role"] == "user"]
        assert sum(1 for m in users if m["content"][0]["type"] == "file") == len(files)
    else:
        assert panes == before  # the history is as it was, on every side
        assert case.expect in notice, notice
        if files:
            assert shown_name(files[-1]) in notice and str(tmp_path) not in notice and "/tmp" not in notice
        if "value" in box:  # absent where the refusal leaves the box untouched (text over its bytes, issue 27)
            assert box["value"]["text"] == case.text and len(box["value"]["files"]) == len(files)
        assert box["interactive"] is True
    _, panes, metrics, notice = _turn(client, "Still there?", [])
    measured["turns"] += 1
    assert notice == ""
    expected = 3 if case.expect == ANSWER else 2
    assert all(len(answers(p)) == expected for p in panes) and all(f"{TOKENS} tokens" in m for m in metrics)


def test_the_corpus_left_memory_and_scratch_files_bounded(app, measured):
    """After the whole corpus (this test runs after it): its uploads and decoded media leave the
    app's memory within 1 GiB of where it started (caches are bounded), and the scratch files
    of the app's own (previews, exports) within their bound."""
    now = footprint()
    assert measured["turns"] >= 3 * len(CASES)
    assert now["rss_mb"] < measured["before"]["rss_mb"] + 1024, (measured["before"], now)
    scratch = sum(1 for p in Path(tempfile.gettempdir()).glob("qwen-demo-*/**/*") if p.is_file())
    assert scratch <= 64 + 2 * 64
