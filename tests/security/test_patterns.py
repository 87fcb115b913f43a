"""Break 3 of issue 27: an uploaded prompt set's ``expect`` pattern ran on each answer with Python's
backtracking ``re`` while holding the GIL: ``(?:[\\s\\S]|[\\s\\S]){0,21}QQQZZZ`` on a 256-token answer
froze ``/healthz`` for 21.9 s, doubling with each +1. Now RE2 (linear time) matches, patterns and
their count are capped, and the report is built in a worker thread.

Served with fake engines (``tests.helpers.fake_app.Spelling``: the answer is ``kiwi0 kiwi1 …``, text
enough for the pattern to bite) through ``gradio_client``, as an outside script would.
"""

from __future__ import annotations

import json

import pytest
from gradio_client import handle_file

from inference.evaluation.prompts import MAX_PATTERN_CHARS, MAX_PATTERNS, Prompt
from tests.helpers.attack import HealthWatch, serve_attacked
from tests.helpers.clients import client

# The target is 100 ms, and what these tests measure is printed under "measured by the tests" and
# quoted in docs/testing.md. The bound that fails a test is 1 s: on a loaded 2-core machine one
# answer can wait a few hundred ms with nothing blocked (seen: 212 and 312 ms), while the unfixed
# code blocked the loop for 2.3-67 s (long text) and 21.9 s (ReDoS): a margin load cannot close.
HEALTHY = 1.0
# Each test here times the server: make test runs it with no other test beside it (pyproject: alone).
pytestmark = pytest.mark.alone
REDOS = r"(?:[\s\S]|[\s\S]){0,21}QQQZZZ"


def _set(path, *expects: list[str]):
    path.write_text(
        "\n".join(json.dumps({"id": f"p{i}", "text": "Say hi.", "expect": e}) for i, e in enumerate(expects))
    )
    return handle_file(str(path))


def test_the_redos_pattern_is_matched_in_linear_time():
    reply = "kiwi0 kiwi1 " * 512  # 1024 words: Python's re would take minutes
    assert Prompt("x", "t", expect=(REDOS,)).correct(reply) is False
    assert Prompt("x", "t", expect=(REDOS,)).correct(reply + " QQQZZZ") is True


def test_the_redos_prompt_set_is_evaluated_while_healthz_answers(tmp_path, record_property, report):
    with serve_attacked(tmp_path) as (url, _comparison):
        c = client(url)
        c.predict(8, _set(tmp_path / "plain.jsonl", ["kiwi1"]), None, api_name="/evaluate")  # first-use imports
        uploaded = _set(tmp_path / "redos.jsonl", [REDOS], ["kiwi1"])
        with HealthWatch(url) as watch:
            status, _tables, _plots, _files = c.predict(64, uploaded, None, api_name="/evaluate")
        record_property("healthz_worst_ms", round(watch.worst * 1000, 1))
        print(f"ReDoS set: /healthz answered {len(watch.times)} times, slowest {watch.worst * 1000:.1f} ms")
        report(f"ReDoS set: /healthz answered {len(watch.times)} times, slowest {watch.worst * 1000:.1f} ms")
        assert status.startswith("✅ 2 prompts from the redos.jsonl evaluated"), status
        assert watch.worst < HEALTHY, f"/healthz took {watch.worst * 1000:.0f} ms"


def test_patterns_re2_cannot_run_and_too_many_or_too_long_ones_are_refused_with_a_sentence(tmp_path):
    with serve_attacked(tmp_path) as (url, _comparison):
        c = client(url)
        said = c.predict(_set(tmp_path / "a.jsonl", [r"(a)\1"]), None, api_name="/check_set")
        assert said.startswith("⚠️ a.jsonl, line 1: expect pattern") and "back-references" in said, said
        said = c.predict(_set(tmp_path / "b.jsonl", ["x" * (MAX_PATTERN_CHARS + 1)]), None, api_name="/check_set")
        assert f"at most {MAX_PATTERN_CHARS}" in said, said
        said = c.predict(_set(tmp_path / "c.jsonl", ["x"] * (MAX_PATTERNS + 1)), None, api_name="/check_set")
        assert f"at most {MAX_PATTERNS}" in said, said
