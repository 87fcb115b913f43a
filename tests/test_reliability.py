"""The bad-input corpus (``tests/helpers/corpus.py``) through the running app, a few cases at once.

For every case, in a session of its own: a first turn, then the case, then a follow-up. An
unusual but valid input is answered on both sides; a bad one is refused with a message that
says what is wrong and names the file as the user knows it (never a server path), while the
history, the input box and both sides stay as they were; either way the follow-up is
answered on both sides. Memory and scratch files are measured around the whole corpus.

Time (issue 28): each case's three turns are mostly the app's and the engines' overhead (6-token
answers), so the ``runs`` fixture sends the selected cases ``AT_ONCE`` at a time, each case's own
turns one after the other, and each case's test waits for its own case and asserts on what that
case's turns returned (an exception in a case's thread is raised in that case's test). Running
cases together cannot mix them up: each case is its own browser (``browser_client``: its own
``gradio_client`` session, so its own conversation state, and its own viewer cookie, so its own
user), its files are in its own folder, and ``/respond`` answers only the session that sent it;
``AT_ONCE`` stays under the tiny pair's batch size (8), so no turn waits for a slot (a waiting
turn would show the "busy" line), and the test page has no per-user or per-address limits. The
memory and scratch-file test waits for every case and runs after them all.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from gradio_client import Client, handle_file

from tests.helpers.clients import answers, browser_client, notice, split
from tests.helpers.corpus import ANSWER, Case, cases, shown_name
from tests.helpers.servers import serve

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

TOKENS = 6  # per answer (ignore_eos: exactly this many)
CASES = cases()
AT_ONCE = 4  # cases in flight together: under the tiny pair's batch size (max_num_seqs 8)
CASE_TEST = "test_each_corpus_case_is_answered_or_refused_and_nothing_else_is_lost"


@pytest.fixture(scope="module")
def app(tiny_dir):
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    with serve(cpu_pair(tiny_dir), GenerationSettings(max_tokens=TOKENS, ignore_eos=True)) as served:
        yield served


def mine_scratch() -> int:
    """Files in this process's (the app's) scratch folders, not in those of other runs on the machine."""
    temp = Path(tempfile.gettempdir())
    return sum(1 for p in temp.glob(f"qwen-demo-*-pid{os.getpid()}-*/**/*") if p.is_file())


def footprint() -> dict[str, float]:
    """Memory of this process (the app) and its EngineCores, and the files in the temp folders."""
    gc.collect()
    me = psutil.Process()
    rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
    temp = Path(tempfile.gettempdir())
    files = sum(1 for p in temp.glob("gradio/**/*") if p.is_file())
    files += mine_scratch()
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


@dataclass
class Turn:
    box: dict[str, Any]
    panes: list[list[dict]]
    metrics: list[str]
    notice: str


@dataclass
class Run:
    """One case's three turns as its session saw them, and the folder its files were written in."""

    folder: Path
    files: list[Path]
    first: Turn
    case: Turn
    follow_up: Turn


def _turn(client: Client, text: str, files: list[Path]) -> Turn:
    update = client.predict({"text": text, "files": [handle_file(str(f)) for f in files]}, api_name="/respond")
    box, panes, metrics = split(update)
    return Turn(box, panes, metrics, notice(update))  # an answered turn sets the notice once, to ""


@pytest.fixture(scope="module")
def runs(request, app, measured, tmp_path_factory):
    """Each selected case's ``Run`` as a future, the cases sent ``AT_ONCE`` at a time in test order."""
    lock = threading.Lock()

    def served(turns: int) -> None:
        with lock:
            measured["turns"] += turns

    def run(case: Case, folder: Path) -> Run:
        client = browser_client(app[0])  # a new browser: its own session and viewer
        files = case.make(folder)
        first = _turn(client, "Hello", [])
        middle = _turn(client, case.text, files)
        served(2)
        with lock:
            measured["answered" if case.expect == ANSWER else "refused"] += 1
        follow_up = _turn(client, "Still there?", [])
        served(1)
        return Run(folder, files, first, middle, follow_up)

    here = request.node.path
    chosen = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.path == here and item.originalname == CASE_TEST
    ]
    pool = ThreadPoolExecutor(AT_ONCE, thread_name_prefix="corpus")
    futures: dict[str, Future[Run]] = {}
    for case in chosen:
        folder = tmp_path_factory.mktemp(re.sub(r"\W", "_", case.name)[:30])
        futures[case.name] = pool.submit(run, case, folder)
    try:
        yield futures
    finally:  # a stopped run (-x, Ctrl+C): cases not begun are dropped, the ones in flight end
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_corpus_case_is_answered_or_refused_and_nothing_else_is_lost(case, runs):
    done = runs[case.name].result()  # this case's exception, if its thread raised one
    tmp_path, files, before = done.folder, done.files, done.first.panes
    box, panes, metrics, notice = done.case.box, done.case.panes, done.case.metrics, done.case.notice
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
    panes, metrics, notice = done.follow_up.panes, done.follow_up.metrics, done.follow_up.notice
    assert notice == ""
    expected = 3 if case.expect == ANSWER else 2
    assert all(len(answers(p)) == expected for p in panes) and all(f"{TOKENS} tokens" in m for m in metrics)


def test_the_corpus_left_memory_and_scratch_files_bounded(app, measured, runs):
    """After the whole corpus (this test waits for every case and runs after them): its uploads and
    decoded media leave the app's memory within 1 GiB of where it started (caches are bounded), and
    the scratch files of the app's own (previews, exports) within their bound."""
    wait(runs.values())
    now = footprint()
    assert measured["turns"] >= 3 * len(CASES)
    assert now["rss_mb"] < measured["before"]["rss_mb"] + 1024, (measured["before"], now)
    assert mine_scratch() <= 64 + 2 * 64
