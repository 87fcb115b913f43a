"""Break 4 of issue 27: a long text sent through the API froze every visitor while it was tokenised
on the event loop, before any limit applied (32 MB: /healthz silent for 67 s).

Served through ``gradio_client`` as an outside script would send it; the engines are fakes that
count a prompt with the tiny checkpoint's real tokenizer (``tests.helpers.attack.Tokenizing``), so
tokenising costs what it costs in the app.
"""

from __future__ import annotations

import functools

import httpx
import pytest
from gradio_client import handle_file
from transformers import AutoTokenizer

from inference.inputs.chat import GenerationSettings
from tests.helpers.attack import HealthWatch, Tokenizing, from_outside, serve_attacked
from tests.helpers.clients import client, notice
from ui.inputs import text_limit

# The target is 100 ms, and what these tests measure is printed under "measured by the tests" and
# quoted in docs/testing.md. The bound that fails a test is 1 s: on a loaded 2-core machine one
# answer can wait a few hundred ms with nothing blocked (seen: 212 and 312 ms), while the unfixed
# code blocked the loop for 2.3-67 s (long text) and 21.9 s (ReDoS): a margin load cannot close.
HEALTHY = 1.0
# Each test here times the server: make test runs it with no other test beside it (pyproject: alone).
pytestmark = pytest.mark.alone


def _engine(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir / "bf16")
    return functools.partial(Tokenizing, tokenizer=tokenizer)


def test_a_32_mb_text_is_refused_from_its_length_while_healthz_answers(tiny_dir, tmp_path, record_property, report):
    with serve_attacked(tmp_path, engine=_engine(tiny_dir)) as (url, _comparison):
        c = client(url)
        assert notice(c.predict({"text": "hello", "files": []}, api_name="/respond")) == ""  # a first turn's imports
        attack = """
            text = "lorem ipsum " * (32 * 2**20 // 12)
            try:
                print(client.predict({"text": text, "files": []}, api_name="/respond")[-1])
            except Exception as err:
                print(err)
        """
        with HealthWatch(url) as watch:
            said = from_outside(url, attack)
        record_property("healthz_worst_ms", round(watch.worst * 1000, 1))
        print(f"32 MB text: /healthz answered {len(watch.times)} times, slowest {watch.worst * 1000:.1f} ms")
        report(f"32 MB text: /healthz answered {len(watch.times)} times, slowest {watch.worst * 1000:.1f} ms")
        assert "413" in said, said
        assert watch.times and watch.worst < HEALTHY, f"/healthz took {watch.worst * 1000:.0f} ms"
        # the refusal's sentence, as plain HTTP sees it; an ordinary turn still goes through afterwards
        refused = httpx.post(f"{url}gradio_api/queue/join", content=b"x" * 4 * 2**20, timeout=30)
        assert refused.status_code == 413 and "Send a shorter text" in refused.text, refused.text
        assert notice(c.predict({"text": "hello again", "files": []}, api_name="/respond")) == ""


def test_a_text_over_the_length_bound_but_under_the_body_limit_is_one_sentence(tiny_dir, tmp_path):
    with serve_attacked(tmp_path, engine=_engine(tiny_dir)) as (url, comparison):
        c = client(url)
        c.predict({"text": "hello", "files": []}, api_name="/respond")
        text = "lorem ipsum " * (2 * text_limit(comparison.context) // 12)
        with HealthWatch(url) as watch:
            said = notice(c.predict({"text": text, "files": []}, api_name="/respond"))
        assert "Not sent" in said and "more than the models' context" in said, said
        assert watch.worst < HEALTHY, f"/healthz took {watch.worst * 1000:.0f} ms"


def test_a_long_system_prompt_and_many_text_files_are_refused_before_tokenising(tiny_dir, tmp_path):
    with serve_attacked(tmp_path, engine=_engine(tiny_dir)) as (url, comparison):
        c = client(url)
        c.predict({"text": "hello", "files": []}, api_name="/respond")
        system = "x " * text_limit(comparison.context)
        with HealthWatch(url) as watch:
            said = notice(c.predict({"text": "hi", "files": []}, system=system, api_name="/respond"))
        assert "system prompt" in said and watch.worst < HEALTHY, (said, watch.worst)
        files = []
        for i in range(8):
            path = tmp_path / f"notes{i}.txt"
            path.write_text("word " * (2**20 // 5))
            files.append(handle_file(str(path)))
        with HealthWatch(url) as watch:
            said = notice(c.predict({"text": "sum up", "files": files}, api_name="/respond"))
        assert "text and files" in said and watch.worst < HEALTHY, (said, watch.worst)


def test_a_text_near_the_limit_is_tokenised_off_the_event_loop(tiny_dir, tmp_path):
    """Under the length bound but over the context: tokenised (after admission) in a thread, so
    /healthz keeps answering, and refused with the token count."""
    settings = GenerationSettings(max_tokens=12)
    with serve_attacked(tmp_path, engine=_engine(tiny_dir), settings=settings) as (url, comparison):
        text = "zq " * (comparison.context * 2)  # ~6 bytes per token of context: under the bound
        with HealthWatch(url) as watch:
            said = notice(client(url).predict({"text": text, "files": []}, api_name="/respond"))
        assert "exceeds the model's context" in said, said
        assert watch.worst < HEALTHY, f"/healthz took {watch.worst * 1000:.0f} ms"


def test_the_health_watch_times_an_answer_however_short_its_block(tmp_path):
    """The watch these tests rest on: connected before its block starts, and at least one answer
    timed even when the block ends at once (a refusal can come back before the first timed ask)."""
    with serve_attacked(tmp_path) as (url, _comparison), HealthWatch(url) as watch:
        pass
    assert watch.times and watch.worst < HEALTHY, watch.times
