"""The app with ``--backend transformers``: both panes on transformers, through gradio_client and Chromium.

The specs are what ``app.py --backend transformers`` makes on CPU (the tiny pair, backend
"transformers"); ``serve`` composes and serves the app as ``app.py`` does.
"""

from __future__ import annotations

import time

import pytest
from gradio_client import handle_file

from tests.helpers.browser import BOT_TEXT, app_page, finished, send
from tests.helpers.clients import answers, split
from tests.helpers.clients import client as app_client
from tests.helpers.servers import serve

pytestmark = pytest.mark.engine
TOKENS = 96


@pytest.fixture(scope="module")
def served_hf(tiny_dir):
    import app
    from inference.inputs.chat import GenerationSettings

    specs = app.resolve_specs(app.parse_args(["--device", "cpu", "--backend", "transformers"]))
    assert [s.backend for s in specs] == ["transformers", "transformers"]
    with serve(specs, GenerationSettings(max_tokens=TOKENS, ignore_eos=True)) as served:
        yield served


@pytest.fixture
def client(served_hf):
    return app_client(served_hf[0])


def test_a_turn_streams_into_both_panes(client, media, served_hf):
    job = client.submit({"text": "What is this?", "files": [handle_file(str(media["image"]))]}, api_name="/respond")
    updates = [split(u) for u in job]
    box, panes, metrics = updates[-1]
    assert box["interactive"] is True
    assert all(len(answers(p)) == 1 and len(answers(p)[0]) > 20 for p in panes)
    for line in metrics:  # the image costs the same 266 visual tokens as on vLLM
        assert f"{TOKENS} tokens" in line and "(266 visual" in line and "tok/s" in line
    assert "vs BF16:" in metrics[0]  # the divergence figures work on this backend's log-probs
    lengths = [[len(answers(p)[0]) for p in u[1]] for u in updates if all(answers(p) for p in u[1])]
    assert len(lengths) >= 3 and all(lengths[0][i] < lengths[-1][i] for i in (0, 1))  # streamed
    assert [e.num_unfinished_requests() for e in served_hf[1].pool.engines] == [0, 0]


def test_stop_ends_both_generate_threads(client, served_hf):
    import threading

    pool = served_hf[1].pool
    job = client.submit({"text": "Keep talking.", "files": []}, max_tokens=4000, api_name="/respond")
    deadline = time.monotonic() + 60
    while not all(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline, "the turn never started"
        time.sleep(0.02)
    time.sleep(0.5)
    box, panes, _ = split(client.predict(api_name="/stop"))
    assert box["interactive"] is True and all(answers(p)[-1].endswith("⏹ *stopped*") for p in panes)
    deadline = time.monotonic() + 10  # 4000 tokens would take minutes: only a real stop ends them in time
    while any(e.num_unfinished_requests() for e in pool.engines) or any(
        t.name.startswith("generate-") for t in threading.enumerate()
    ):
        assert time.monotonic() < deadline, "Stop left a generate thread running"
        time.sleep(0.05)
    while not job.done():
        assert time.monotonic() < deadline + 5, "the turn did not end after Stop"
        time.sleep(0.02)


@pytest.mark.browser
def test_browser_both_panes_stream(served_hf, media, pictures):
    with app_page(served_hf[0]) as page:
        assert "transformers" in page.inner_text("#banner")
        send(page, "What is in this picture?", [str(media["image"])])
        streaming = "i => /[1-9][0-9]* tokens…/.test(document.querySelector(`#metrics-${i}`).innerText)"
        page.wait_for_function(f"() => [0, 1].every({streaming})", timeout=60_000)  # both mid-answer
        finished(page)
        for side in (0, 1):
            assert len(page.evaluate(BOT_TEXT, side)) > 40
            assert f"{TOKENS} tokens" in page.inner_text(f"#metrics-{side}")
            assert "(transformers)" in page.inner_text(f"#pane-{side}")  # the pane names its backend
        pictures.shoot(page, "browser-transformers.png", full_page=True)
