"""What an operator watches (issue 18, item 4): ``/metrics`` in Prometheus' format and one JSON log
line per turn, read back after turns through ``gradio_client``.

The app is the real one (``app.build``/``app.launch``) with fake engines (``inference.engines.fake``):
the counters, histograms and log lines are the page's own. vLLM's own metrics and the real
engines' histograms are read in ``tests/test_many_users.py``.
"""

from __future__ import annotations

import json
import logging
import time

from gradio_client import handle_file

from inference.inputs.chat import GenerationSettings
from tests.helpers.clients import VIEWER_COOKIE, browser_client, client, notice
from tests.helpers.metrics import scrape
from tests.helpers.servers import serve_fake
from ui.viewers import Identity

SECRET = b"metrics test"


def turn_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "demo.turns"]


def test_metrics_count_turns_refusals_and_each_sides_figures_fake_engines(caplog):
    caplog.set_level(logging.INFO, logger="demo.turns")
    limits = {"user_running": 0, "user_per_minute": 2}  # LimitOptions fields
    with serve_fake(GenerationSettings(max_tokens=7), **limits, identity=Identity(SECRET)) as (url, _):
        before = scrape(url)
        assert before[("demo_turns_total", (("outcome", "completed"),))] == 0
        user = browser_client(url)
        for i in range(2):
            assert notice(user.predict({"text": f"secret words {i}", "files": []}, api_name="/respond")) == ""
        refused = user.predict({"text": "secret words 2", "files": []}, api_name="/respond")
        assert "2 turns in the last minute" in notice(refused)
        after = scrape(url)
    assert after[("demo_turns_total", (("outcome", "completed"),))] == 2
    assert after[("demo_turns_total", (("outcome", "refused"),))] == 1
    assert after[("demo_refusals_total", (("reason", "user_per_minute"),))] == 1
    for side in ("FP8", "BF16"):
        label = (("side", side),)
        assert after[("demo_ttft_seconds_count", label)] == 2
        assert after[("demo_decode_tokens_per_second_count", label)] == 2
        assert after[("demo_ttft_seconds_sum", label)] > 0
        assert after[("demo_answer_tokens_total", label)] == 14  # 2 answers of 7 tokens
        assert after[("demo_prompt_tokens_total", label)] == 24  # the fake engine's 12-token prompts
        assert after[("demo_engine_restarts_total", label)] == 0
    assert after[("demo_turns_running", ())] == 0 and after[("demo_turns_waiting", ())] == 0
    assert ("process_resident_memory_bytes", ()) in after
    lines = turn_lines(caplog)
    assert [line["outcome"] for line in lines] == ["completed", "completed", "refused"]
    assert lines[2]["reason"] == "user_per_minute"
    assert len({line["who"] for line in lines}) == 1  # one viewer, one pseudonym
    cookie = user.cookies[VIEWER_COOKIE]
    for line in lines:
        text = json.dumps(line)
        assert "secret words" not in text and cookie.split(".")[0] not in text and "127.0.0.1" not in text
    assert lines[0]["sides"]["FP8"]["answer_tokens"] == 7 and lines[0]["sides"]["BF16"]["prompt_tokens"] == 12
    assert all(line["forwarded"] == 0 for line in lines)  # no proxy in front of this client
    assert lines[0]["sides"]["FP8"]["ttft_ms"] > 0 and lines[0]["sides"]["BF16"]["finish"] == "length"


def test_the_turns_running_and_waiting_are_read_at_each_scrape_and_stopped_turns_counted_fake_engines(caplog):
    caplog.set_level(logging.INFO, logger="demo.turns")
    settings = GenerationSettings(max_tokens=5)
    with serve_fake(settings, delay=600.0, max_queue=2) as (url, comparison):  # answers that never come
        capacity = comparison.queue.capacity
        users = [client(url) for _ in range(capacity + 1)]  # no limits: one address is fine here
        jobs = [u.submit({"text": "wait", "files": []}, api_name="/respond") for u in users]
        deadline = time.monotonic() + 60
        while comparison.queue.running + comparison.queue.waiting < capacity + 1:
            assert time.monotonic() < deadline, "the turns were not admitted"
            time.sleep(0.05)
        busy = scrape(url)
        waits = lambda job: any("your turn starts" in notice(u) for u in job.outputs())  # noqa: E731
        while not (told := [i for i, job in enumerate(jobs) if waits(job)]):
            assert time.monotonic() < deadline, "the waiting turn was not told so"
            time.sleep(0.05)
        users[told[0]].predict(api_name="/stop")  # the waiting one first: it ends without a slot
        while comparison.queue.waiting:
            assert time.monotonic() < deadline, "Stop did not end the waiting turn"
            time.sleep(0.05)
        for i in range(len(users)):
            if i != told[0]:
                users[i].predict(api_name="/stop")
        for job in jobs:
            job.result(timeout=60)
        idle = scrape(url)
    assert (busy[("demo_turns_running", ())], busy[("demo_turns_waiting", ())]) == (capacity, 1)
    assert (idle[("demo_turns_running", ())], idle[("demo_turns_waiting", ())]) == (0, 0)
    assert idle[("demo_turns_total", (("outcome", "stopped"),))] == capacity  # the waiting one never ran
    assert [line["outcome"] for line in turn_lines(caplog)] == ["stopped"] * capacity


def test_the_log_line_shows_the_prompt_only_with_log_prompts_fake_engines(caplog, media):
    caplog.set_level(logging.INFO, logger="demo.turns")
    message = {"text": "what is in this picture?", "files": [handle_file(str(media["image"]))]}
    for log_prompts in (False, True):
        caplog.clear()
        with serve_fake(GenerationSettings(max_tokens=3), log_prompts=log_prompts) as (url, _):
            assert notice(client(url).predict(message, api_name="/respond")) == ""
        (line,) = turn_lines(caplog)
        assert line["files"] == 1 and line["outcome"] == "completed"
        text = json.dumps(line)
        shown = "what is in this picture?" in text, media["image"].name in text
        assert shown == (log_prompts, log_prompts)
