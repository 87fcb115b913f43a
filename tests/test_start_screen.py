"""The start screen in Chromium: the first empty pane shows the examples, a click sends one to every side, the
examples go while a conversation is on and come back after Clear.

Engines: the page as ``app.py`` composes it for the tiny pair's specs, with ``FakeFastEngine``s
(``inference.engines.fake``: no model, words at a fixed rate) in place of vLLM: this is a narrow
test of the page; the real engines answer examples in ``tests/test_browser.py``.
"""

from __future__ import annotations

from functools import partial

import pytest

from inference.inputs.samples import EXAMPLES
from tests.helpers.browser import BOT_TEXT, app_page, finished
from tests.helpers.servers import serve

pytestmark = pytest.mark.browser
EXAMPLE = "#pane-{i} .examples .example"


@pytest.fixture(scope="module")
def fake_page(tiny_dir):
    """The real page on fake engines (``FakeFastEngine``): its URL."""
    from inference.engines.fake import FakeFastEngine
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    fake = partial(FakeFastEngine, rate=200.0)
    with serve(cpu_pair(tiny_dir), GenerationSettings(max_tokens=24, ignore_eos=True), make_engine=fake) as (url, _):
        yield url


def test_empty_panes_show_the_examples_and_a_click_sends_one_until_clear(fake_page, pictures):
    with app_page(fake_page, (1400, 1000)) as page:
        # the examples once, in the first pane; the second says what will appear there
        page.wait_for_selector(EXAMPLE.format(i=0), timeout=30_000)
        shown = page.locator(EXAMPLE.format(i=0)).all_inner_texts()
        assert len(shown) == len(EXAMPLES) and all(e.text in t for e, t in zip(EXAMPLES, shown, strict=True))
        assert page.locator(EXAMPLE.format(i=1)).count() == 0
        assert "appears here" in page.inner_text("#pane-1")
        pictures.shoot(page, "browser-start-screen.png", docs="screenshot-start.png")
        # the chart example (an image and a question), clicked in the first pane: every side answers it
        # (generous: its first preparation took 12 s on this 2-core machine under other tests' load)
        page.locator(EXAMPLE.format(i=0)).nth(0).click()
        for i in (0, 1):
            page.wait_for_function(f"() => ({BOT_TEXT})({i}).length > 0", timeout=180_000)
            user = page.locator(f"#pane-{i} [data-testid='user']")
            assert EXAMPLES[0].text in user.last.inner_text()
            page.wait_for_selector(f"#pane-{i} [data-testid='user'] img", timeout=60_000)  # the chart went too
        finished(page)
        assert page.locator(".examples").count() == 0  # a conversation is on: no start screen
        assert page.input_value("#box textarea") == ""  # sent, not left in the box
        pictures.shoot(page, "browser-start-screen-sent.png")
        page.click("#clear")
        page.wait_for_selector(EXAMPLE.format(i=0), timeout=30_000)
        assert page.locator(EXAMPLE.format(i=0)).count() == len(EXAMPLES)
        assert page.locator("[data-testid='bot']").count() == 0
