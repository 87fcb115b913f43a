"""Many users at once: turns run as many at a time as the engines batch, a full queue says
"busy, try again", per-user limits refuse politely, and health routes tell loading from ready.

One app with engines that batch only 2 requests (``max_num_seqs=2``), a queue of 1 and limits of
1 running turn and 4 turns a minute per user. The clients never load the page (no viewer cookie),
so each is known by its address: the app trusts one proxy hop, and each client writes the
``X-Forwarded-For`` entry that proxy would append. ``/metrics`` is read after a turn on the real
engines: the per-side histograms and vLLM's own engine metrics of both sides.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers.clients import client, notice
from tests.helpers.metrics import scrape
from tests.helpers.servers import build, free_port, serve

pytestmark = pytest.mark.engine

CAPACITY = 2


@pytest.fixture(scope="module")
def crowded(tiny_dir):
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair
    from ui.viewers import Identity

    specs = [replace(s, engine_args={**s.engine_args, "max_num_seqs": CAPACITY}) for s in cpu_pair(tiny_dir)]
    settings = GenerationSettings(max_tokens=200, ignore_eos=True)
    limits = {"user_running": 1, "user_per_minute": 4}  # LimitOptions fields
    identity = Identity(b"many users", proxy_hops=1)  # the test is the proxy: its X-Forwarded-For is believed
    with serve(specs, settings, **limits, max_queue=1, identity=identity) as served:
        yield served


def docker_healthcheck() -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()
    return json.loads(re.search(r"CMD (\[.*\])", text[text.index("\nHEALTHCHECK") :]).group(1))


def test_health_routes_say_alive_and_ready(crowded):
    url, _comparison = crowded
    for route in ("/healthz", "/readyz"):
        r = httpx.get(url + route.lstrip("/"), timeout=10)
        assert r.status_code == 200, route
        body = r.json()
        assert body["ok"] and body["ready"] and body["warmed_up"] and not body["failed"]
        assert [e["state"] for e in body["engines"]] == ["alive", "alive"]
        assert [e["label"] for e in body["engines"]] == ["FP8", "BF16"]


def test_health_routes_while_loading_and_after_a_failed_start(tiny_dir):
    """Engines never started: alive (still loading) but not ready; then a failed start: not alive."""
    import app
    from inference.engines.pool import PoolStatus
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    page = build(cpu_pair(tiny_dir), GenerationSettings())
    demo, comparison, port = page.demo, page.comparison, free_port()
    _, url, _ = app.launch(page, server_port=port, quiet=True)
    probe = [sys.executable, *docker_healthcheck()[1:]]  # the Dockerfile's HEALTHCHECK, run here
    run = {"capture_output": True, "timeout": 30, "env": {"DEMO_PORT": str(port)}}
    try:
        live, ready = (httpx.get(url + r, timeout=10) for r in ("healthz", "readyz"))
        assert (live.status_code, ready.status_code) == (200, 503)
        assert [e["state"] for e in ready.json()["engines"]] == ["loading", "loading"]
        assert ready.json()["status"].startswith("Waiting")
        assert subprocess.run(probe, **run).returncode == 0  # Docker waits while the engines load
        comparison.pool.status = PoolStatus(False, "Engine start failed.", "FP8: out of memory")
        live = httpx.get(url + "healthz", timeout=10)
        assert live.status_code == 503 and live.json()["error"] == "FP8: out of memory"
        assert subprocess.run(probe, **run).returncode != 0  # Docker marks the container unhealthy
    finally:
        demo.close()


def test_turns_run_as_many_at_once_as_the_engines_batch_and_a_full_queue_says_busy(crowded):
    url, comparison = crowded
    engines = comparison.pool.engines
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], *(e.num_unfinished_requests() for e in engines))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    users = [client(url, f"10.0.0.{i}") for i in range(CAPACITY + 1)]
    late = client(url, "10.0.0.99")  # connected before: its turn comes while the queue is full
    jobs = [u.submit({"text": f"Hello {i}", "files": []}, api_name="/respond") for i, u in enumerate(users)]
    time.sleep(0.5)  # in order: the third is the one that waits
    wait_until_full(comparison)
    try:
        refused = late.predict({"text": "one more", "files": []}, api_name="/respond")
        assert "The demo is busy" in notice(refused) and "retry" in notice(refused)
        assert refused[0]["value"]["text"] == "one more"  # the box keeps the message
        results = [list(j) for j in jobs]  # every update of each turn
    finally:
        done.set()
        sampler.join()
    assert peak[0] == CAPACITY  # the engines never held more than they batch, and did batch
    waited = [r for r in results if any("your turn starts when one of the 2" in notice(u) for u in r)]
    assert len(waited) == 1  # the third was told it waits, then answered like the others
    for updates in results:
        assert all("200 tokens" in m for m in updates[-1][3:5])  # every turn was answered in full
    # once the queue has room again, the same late user is answered
    answered = late.predict({"text": "now?", "files": []}, max_tokens=5, api_name="/respond")
    assert all("5 tokens" in m for m in answered[3:5])


def test_the_status_line_and_preview_answer_while_every_slot_is_taken(crowded, media):
    url, comparison = crowded
    light = client(url, "10.0.5.50")
    users, jobs = fill(url, comparison, "5")
    try:
        t0 = time.monotonic()
        assert light.predict(api_name="/status").startswith("✅")
        _gallery, tokens, _notice = light.predict(
            {"text": "", "files": [handle_file(str(media["image"]))]}, api_name="/preview"
        )
        assert "visual tokens" in tokens and time.monotonic() - t0 < 10  # not behind the long turns
    finally:
        release(users, jobs)


def test_one_user_may_run_one_turn_at_a_time_across_tabs(crowded):
    url, comparison = crowded
    first, second = client(url, "10.0.1.1"), client(url, "10.0.1.1")  # one person, two tabs
    other = client(url, "10.0.1.2")
    job = first.submit({"text": "a long one", "files": []}, api_name="/respond")
    deadline = time.monotonic() + 60
    while not comparison.pool.engines[0].num_unfinished_requests() and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = second.predict({"text": "me again", "files": []}, api_name="/respond")
    assert "already have 1 turn being answered" in notice(refused)
    assert refused[0]["value"]["text"] == "me again"  # the box keeps what was typed
    answered = other.predict({"text": "someone else", "files": []}, max_tokens=5, api_name="/respond")
    assert all("5 tokens" in m for m in answered[3:5]) and notice(answered) == ""
    assert all("200 tokens" in m for m in job.result(timeout=180)[3:5])


def test_turns_per_minute_are_limited_per_user_with_when_to_retry(crowded):
    url, _ = crowded
    user = client(url, "10.0.2.1")
    for i in range(4):
        answered = user.predict({"text": f"turn {i}", "files": []}, max_tokens=2, api_name="/respond")
        assert notice(answered) == ""
    refused = user.predict({"text": "turn 5", "files": []}, max_tokens=2, api_name="/respond")
    assert "4 turns in the last minute" in notice(refused) and "retry in" in notice(refused)
    assert sum(1 for m in refused[1] if m["role"] == "assistant") == 4  # the history is kept
    fresh = client(url, "10.0.2.2").predict({"text": "hi", "files": []}, max_tokens=2, api_name="/respond")
    assert notice(fresh) == ""


def test_a_refused_turn_is_not_an_error_event(crowded):
    """Limits answer with a notice, never an error the client must catch."""
    url, _ = crowded
    user = client(url, "10.0.3.1")
    try:
        user.predict({"text": "", "files": []}, api_name="/respond")
    except AppError as err:  # pragma: no cover - shown if it regresses
        pytest.fail(f"a refused turn raised {err}")


def wait_until_full(comparison) -> None:
    """Until two turns run on the engines and one waits for a slot (the queue holds 1)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = sum(e.num_unfinished_requests() for e in comparison.pool.engines) == 2 * CAPACITY
        if running and comparison.queue.waiting == 1:
            return
        time.sleep(0.05)
    pytest.fail("the queue did not fill")


def fill(url: str, comparison, tag: str) -> tuple[list, list]:
    """Two turns running and one waiting: the next turn finds the demo busy. Their clients and jobs."""
    users = [client(url, f"10.0.{tag}.{i}") for i in range(CAPACITY + 1)]
    jobs = [u.submit({"text": f"busy {i}", "files": []}, api_name="/respond") for i, u in enumerate(users)]
    wait_until_full(comparison)
    return users, jobs


def release(users: list, jobs: list) -> None:
    """Stop the turns ``fill`` started (each user presses Stop) and wait until each has ended: the
    slots are free again without decoding their answers to the end (the suite's time, issue 28)."""
    for user, job in zip(users, jobs, strict=True):
        if not job.done():
            user.predict(api_name="/stop")
    for job in jobs:
        job.result(timeout=60)


@pytest.mark.browser
def test_the_page_says_busy_when_the_queue_is_full_and_keeps_the_message(crowded, pictures):
    from tests.helpers.browser import app_page

    url, comparison = crowded
    with app_page(url, (1400, 1000)) as page:
        users, jobs = fill(url, comparison, "4")
        page.fill("#box textarea", "Is anyone there?")
        page.press("#box textarea", "Enter")
        page.wait_for_selector("#notice:has-text('The demo is busy')", timeout=15_000)
        pictures.shoot(page, "busy.png")
        assert "retry" in page.inner_text("#notice")
        assert "Error" not in page.inner_text("#pane-0")  # the panes are left as they were
        assert page.input_value("#box textarea") == "Is anyone there?"  # nothing typed is lost
        release(users, jobs)
        page.press("#box textarea", "Enter")  # the retry is answered
        page.wait_for_function(
            "() => document.querySelectorAll('#pane-1 [data-testid=\"bot\"]').length > 0", timeout=60_000
        )


def test_stop_ends_a_turn_that_waits_for_a_slot_and_gives_the_message_back(crowded):
    url, comparison = crowded
    users = [client(url, f"10.0.6.{i}") for i in range(CAPACITY + 1)]
    jobs = [u.submit({"text": f"wait {i}", "files": []}, api_name="/respond") for i, u in enumerate(users)]
    waiting = None
    try:
        wait_until_full(comparison)
        deadline = time.monotonic() + 30  # the waiting turn's place reaches its client
        while waiting is None:
            told = [i for i, job in enumerate(jobs) if any("your turn starts" in notice(u) for u in job.outputs())]
            waiting = told[0] if told else None
            assert time.monotonic() < deadline, "no turn was told it waits"
            time.sleep(0.05)
        users[waiting].predict(api_name="/stop")
        last = jobs[waiting].result(timeout=30)  # ends without a slot: nothing was sent to the engines
        assert last[0]["value"]["text"] == f"wait {waiting}" and last[0]["interactive"] is True
        assert notice(last) == "" and comparison.queue.waiting == 0
        assert not any(m["role"] == "assistant" for m in last[1])
    finally:
        for i, job in enumerate(jobs):
            if i != waiting:
                job.result(timeout=180)


def test_metrics_show_each_sides_figures_and_vllms_own_engine_metrics_for_both_engines(crowded):
    """vLLM registers each engine's metrics in Prometheus' default registry and drops the earlier
    engine's when the next starts; /metrics shows both sides' anyway, labelled by side."""
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    url, comparison = crowded
    default = text_string_to_metric_families(generate_latest(REGISTRY).decode())
    models = {
        s.labels["model_name"]
        for f in default
        if f.name.startswith("vllm:")
        for s in f.samples
        if "model_name" in s.labels
    }
    assert models == {str(comparison.pool.specs[-1].model)}, "vLLM's default registry: the last engine started only"
    before = scrape(url)
    answered = client(url, "10.0.7.1").predict({"text": "count me", "files": []}, max_tokens=9, api_name="/respond")
    assert all("9 tokens" in m for m in answered[3:5])

    def delta(after, name, side, **labels):
        pick = lambda samples: sum(  # noqa: E731
            v for (n, ls), v in samples.items() if n == name and {**labels, "side": side}.items() <= dict(ls).items()
        )
        return pick(after) - pick(before)

    deadline = time.monotonic() + 30  # vLLM records an iteration's stats as its outputs are handed over
    while True:
        after = scrape(url)
        sides = ("FP8", "BF16")
        if all(delta(after, "vllm:request_success_total", s) >= 3 for s in sides) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for side in sides:
        assert delta(after, "demo_ttft_seconds_count", side) == 1, side
        assert delta(after, "demo_decode_tokens_per_second_count", side) == 1, side
        assert delta(after, "demo_answer_tokens_total", side) == 9, side
        # vLLM's own, for this side: the answer, then cross-scoring's two prefills on each engine (this
        # side's answer and the other's, each scored with one sampled token: ``inference.compare.cross``)
        assert delta(after, "vllm:request_success_total", side) == 1 + 2, side
        assert delta(after, "vllm:generation_tokens_total", side) == 9 + 2, side
        prompt = delta(after, "demo_prompt_tokens_total", side)
        scored = delta(after, "vllm:prompt_tokens_total", side) - prompt  # the two scoring prompts
        assert prompt > 0 and 2 * prompt <= scored <= 2 * (prompt + 9), side  # each: the turn's prompt + an answer
        assert delta(after, "vllm:time_to_first_token_seconds_count", side) == 1 + 2, side
