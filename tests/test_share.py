"""Share links (``ui/share.py``) through the served page: the Share button keeps a finished comparison
in the store and gives a link that any browser opens read-only.

Engines are fakes (``Spelling`` in ``tests/helpers/fake_app.py``, named so: each side's words name
it); the store is a real SQLite file. Checked: the link's page shows the input's thumbnail, both
answers, the figures, the divergence line and the settings; nothing to share is refused with a
sentence; an unknown or expired id is a 404 page that says so; the page renders a model's markup as
text; in Chromium, the link opened in a fresh browser context (no cookies, no session) shows the
comparison (screenshot ``docs/screenshot-share.png`` under ``make docs-pictures``).
"""

from __future__ import annotations

import re

import httpx
import pytest
from gradio_client import handle_file

from tests.helpers.browser import chromium, finished, open_app, send
from tests.helpers.clients import client
from tests.helpers.fake_app import WORDS, serve_fake
from ui.share import page

LINK = re.compile(r"\((http://[^)]+/shared/[\w-]+)\)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve_fake(tmp_path_factory.mktemp("share"), share_days=2) as s:
        yield s


def test_a_shared_link_shows_the_whole_comparison_read_only(served, media):
    url, store = served
    shared_before = store.tally()  # sharing leaves the votes alone
    c = client(url, "10.2.0.1")
    c.predict({"text": "What is in the picture?", "files": [handle_file(str(media["image"]))]}, api_name="/respond")
    said = c.predict(api_name="/share")
    assert said.startswith("🔗 Read-only link, kept 2 days:")
    link = LINK.search(said).group(1)
    got = httpx.get(link, timeout=30)  # a plain GET: no Gradio session, no cookie
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    html = got.text
    assert "What is in the picture?" in html
    assert html.count('<img src="data:image/jpeg;base64,') == 1  # the input as a thumbnail
    assert all(word in html for word in WORDS.values())  # both answers
    assert "FP8" in html and "BF16" in html and "TTFT" in html  # the sides and their figures
    assert "first divergence" in html and "max_tokens=12" in html  # divergence and settings
    assert "link works until" in html
    assert store.tally() == shared_before


def test_nothing_to_share_yet_is_one_sentence(served):
    url, _ = served
    said = client(url, "10.2.0.2").predict(api_name="/share")
    assert said == "⚠️ Nothing to share yet: send a turn first."


def test_an_unknown_link_is_a_404_page_that_says_so(served):
    url, _ = served
    got = httpx.get(f"{url.rstrip('/')}/shared/no-such-id", timeout=30)
    assert got.status_code == 404
    assert "does not exist or has expired (links last 2 days)" in got.text


def test_a_models_markup_is_shown_as_text():
    answer = {"label": "FP8", "reasoning": "", "reply": '<script>alert(1)</script><img src=x onerror="x()">'}
    answer |= {"note": "", "finish_reason": "length", "output_tokens": 1, "prompt_tokens": 1, "visual_tokens": 0}
    answer |= {"ttft_s": 0.1, "decode_tokens_per_s": 1.0, "total_s": 0.2}
    turn = {"text": "hi", "files": [], "settings": {}, "answers": [answer], "agreement": []}
    rec = {"exported_at": "now", "sides": [], "turns": [turn]}
    html = page({"record": rec, "thumbnails": [[]]}, "tomorrow")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.browser
def test_browser_shared_link_opens_in_a_fresh_context(tmp_path, pictures, media):
    with serve_fake(tmp_path) as (url, _), chromium() as browser:
        tab = open_app(browser, url, (1280, 900), ready="#box textarea")
        tab.wait_for_function("() => !document.querySelector('#box textarea').disabled", timeout=60_000)
        send(tab, "What is in the picture?", [str(media["image"])])
        tab.wait_for_function("() => /kiwi/.test(document.querySelector('#pane-0').innerText)", timeout=120_000)
        finished(tab)  # both answers complete: the comparison can be shared
        tab.click("#share")
        tab.wait_for_selector("#share-link a", timeout=120_000)
        link = tab.get_attribute("#share-link a", "href")
        # a fresh context: no cookies, no session
        viewer = open_app(browser, link, (1100, 1000), ready="img", timeout=120_000)
        text = viewer.inner_text("body")
        assert "What is in the picture?" in text and "kiwi" in text and "plum" in text
        assert viewer.evaluate("() => document.querySelector('img').naturalWidth") > 0  # the thumbnail draws
        pictures.shoot(viewer, "share-link.png", docs="screenshot-share.png", full_page=True)
