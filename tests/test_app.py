"""The app through a real ``gradio_client`` against a served page with the tiny engines."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client, handle_file

pytestmark = pytest.mark.engine


@pytest.fixture
def client(served):
    return Client(served[0], download_files=False, verbose=False)


def answers(pane: list[dict]) -> list[str]:
    return ["".join(p.get("text", "") for p in m["content"]) for m in pane if m["role"] == "assistant"]


def split(update):
    """``/respond`` returns the input box, then one pane per side, then one metrics line per side."""
    box, *rest = update
    half = len(rest) // 2
    return box, rest[:half], rest[half:]


def test_status_says_ready_and_input_unlocked(client):
    status, box, _timer = client.predict(api_name="/poll")
    assert status.startswith("✅") and box["interactive"] is True


def test_text_and_image_stream_into_both_panes_and_history_is_kept(client, media):
    job = client.submit({"text": "What is this?", "files": [handle_file(str(media["image"]))]}, api_name="/respond")
    updates = [split(u) for u in job]
    box, panes, metrics = updates[-1]
    assert box["interactive"] is True
    assert all(len(answers(p)) == 1 and len(answers(p)[0]) > 20 for p in panes)
    for line in metrics:  # 160 tokens each (ignore_eos), a 448x336 image is 140 visual tokens
        assert "TTFT" in line and "tok/s" in line and "160 tokens" in line and "(140 visual)" in line
    # streamed: intermediate renders show each pane's answer growing
    lengths = [[len(answers(p)[0]) for p in u[1]] for u in updates if all(answers(p) for p in u[1])]
    assert len(lengths) >= 5
    for side in (0, 1):
        partial = [row[side] for row in lengths]
        assert partial == sorted(partial) and partial[0] < partial[-1]
    # the input is locked while answering
    assert updates[0][0]["interactive"] is False

    _, panes, _ = split(client.predict({"text": "And in more detail?", "files": []}, api_name="/respond"))
    for pane in panes:
        assert len(answers(pane)) == 2
        users = [m for m in pane if m["role"] == "user"]
        assert users[0]["content"][0]["type"] == "file"  # the image is still in the history
        assert users[-1]["content"][0]["text"] == "And in more detail?"


def test_settings_reach_both_sides(client):
    _, _, metrics = split(
        client.predict({"text": "Hi", "files": []}, max_tokens=7, temperature=0.7, seed=3, api_name="/respond")
    )
    assert all("7 tokens" in line for line in metrics)


def test_unusable_setting_is_refused_and_history_kept(client):
    _, before, _ = split(client.predict({"text": "Hi", "files": []}, max_tokens=5, api_name="/respond"))
    box, after, _ = split(client.predict({"text": "Again", "files": []}, seed=None, api_name="/respond"))
    assert after == before and box["value"]["text"] == "Again"


def test_stop_cancels_both_requests(client, served):
    pool = served[1].pool
    job = client.submit({"text": "Tell me everything.", "files": []}, max_tokens=4000, api_name="/respond")
    deadline = time.monotonic() + 30
    while not any(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)
    # /stop alone (no job.cancel()): the streaming handler sees the request and ends the turn
    box, panes, _ = split(client.predict(api_name="/stop"))
    assert box["interactive"] is True
    for pane in panes:
        assert answers(pane)[-1].endswith("⏹ *stopped*")
    deadline = time.monotonic() + 3
    while any(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline, "a vLLM request is still running after Stop"
        time.sleep(0.02)
    while not job.done():
        assert time.monotonic() < deadline + 5, "the turn did not end after Stop"
        time.sleep(0.02)
    final_box, final_panes, metrics = split(job.outputs()[-1])
    assert final_box["interactive"] is True and final_panes == panes  # nothing streamed after Stop
    assert all("s · prompt" in line for line in metrics)  # a total time: the turn is closed


def test_bad_file_keeps_history_and_input(client, media):
    _, before, _ = split(client.predict({"text": "Hello", "files": []}, max_tokens=8, api_name="/respond"))
    box, after, _ = split(
        client.predict({"text": "What about this?", "files": [handle_file(str(media["corrupt"]))]}, api_name="/respond")
    )
    assert after == before
    assert box["value"]["text"] == "What about this?" and len(box["value"]["files"]) == 1
    assert box["interactive"] is True
