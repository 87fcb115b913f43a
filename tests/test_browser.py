"""The page in a real browser: Playwright driving Debian's Chromium against the served app.

Screenshots land in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers.browser import BOT_TEXT, chromium, finished, goto_app, open_app, send
from ui.views import STOPPED

pytestmark = [pytest.mark.engine, pytest.mark.browser]


@pytest.fixture(scope="module")
def page(served):
    with chromium() as browser:
        yield open_app(browser, served[0])


def open_page(page, url: str, **settings) -> None:
    """Open the app with ``settings`` preset by its link (``ui.presets``) and wait until the page
    shows them: the server set them in its load event, so nothing typed can race the turn."""
    goto_app(page, url, **settings)
    if not settings:
        return
    if not page.is_visible("#max-tokens input[type=number]"):
        page.click("#settings button")
    if "max_tokens" in settings:
        n = settings["max_tokens"]
        page.wait_for_function(f"() => document.querySelector('#max-tokens input[type=number]')?.value === '{n}'")
    if "enable_thinking" in settings:
        checked = "true" if settings["enable_thinking"] else "false"
        page.wait_for_function(f"() => document.querySelector('#thinking input')?.checked === {checked}")


def bot_text(page, side: int) -> str:
    return page.evaluate(BOT_TEXT, side)


def test_upload_image_and_both_panes_fill(page, media, pictures):
    assert "Tiny random checkpoints" in page.inner_text("#banner")
    send(page, "What is in this picture?", [str(media["image"])])
    page.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 40)", timeout=60_000)
    finished(page)
    # neither side waited for the other: each one's first token came before the other had finished
    ttft, total = [], []
    for side in (0, 1):
        line = page.inner_text(f"#metrics-{side}")
        ttft.append(float(re.search(r"TTFT (\d+) ms", line).group(1)) / 1000)
        total.append(float(re.search(r"([\d.]+) s\n", line).group(1)))
    assert ttft[0] < total[1] and ttft[1] < total[0], (ttft, total)
    assert page.locator("#pane-0 img").count() >= 1 and page.locator("#pane-1 img").count() >= 1
    for side in (0, 1):
        assert "(266 visual" in page.inner_text(f"#metrics-{side}")  # raised to Qwen's 256-token floor
    pictures.shoot(page, "browser-image.png", full_page=True)


def test_video_turn_and_stop_button(page, served, media, pictures):
    """Stop ends every answer still running and nothing streams after it. 7500 new tokens (the most
    the 8192-token context leaves beside the clip) keep both sides busy for tens of seconds on a
    fast machine; a side that still finishes before Stop reaches the server (a loaded machine's
    browser can lag that long) must show its whole answer, and at least one side must have been
    stopped for the test to count."""
    pool, comparison = served[1].pool, served[1]
    open_page(page, served[0], max_tokens=7500)  # with the clip, just within the 8192-token context
    send(page, "What moves in this clip?", [str(media["video"])])
    # both sides streaming this turn (the panes' last text could still be the previous turn's)
    streaming = "i => /[1-9][0-9]* tokens…/.test(document.querySelector(`#metrics-${i}`).innerText)"
    page.wait_for_function(f"() => [0, 1].every({streaming})", timeout=60_000)
    (turn,) = comparison.turns.answering()
    assert turn.settings.max_tokens == 7500  # the setting arrived
    # A click event on the visible, enabled button. (``page.click`` also waits for the button to keep
    # its place for two animation frames; with both engines and Chromium on 2 cores that wait once
    # ran out after 30 s in CI while the page re-rendered.)
    stop = page.locator("#stop")
    assert stop.is_visible() and stop.is_enabled()
    stop.dispatch_event("click")
    # the requests end first (the server's part), then the page says so (Chromium may lag behind
    # on this machine); a failure leaves a screenshot of the page as it was
    deadline = time.monotonic() + 15
    while any(e.num_unfinished_requests() for e in pool.engines):
        if time.monotonic() > deadline:
            pictures.shoot(page, "browser-video-stop-failed.png", full_page=True)
            pytest.fail("Stop left a vLLM request running for 15 s")
        time.sleep(0.05)
    stopped = [STOPPED in a.note for a in turn.answers]  # the server's record: which sides Stop ended
    assert any(stopped), f"both answers ended on their own before Stop: {[a.finish_reason for a in turn.answers]}"
    ends = [("stopped" if s else f"{turn.answers[i].metrics.tokens} tokens") for i, s in enumerate(stopped)]
    shown = " && ".join(
        f"({BOT_TEXT})({i}).endsWith('stopped')"
        if s
        else f"document.querySelector('#metrics-{i}').innerText.includes('{ends[i]} ·')"
        for i, s in enumerate(stopped)
    )
    try:
        page.wait_for_function(f"() => {shown}", timeout=60_000)
    except Exception:
        pictures.shoot(page, "browser-video-stop-failed.png", full_page=True)
        texts = [bot_text(page, side)[-200:] for side in (0, 1)]
        pytest.fail(f"the panes do not show {ends} within 60 s; they end with {texts}")
    assert not page.is_disabled("#box textarea")
    stopped_text = [bot_text(page, side) for side in (0, 1)]
    time.sleep(1)
    assert [bot_text(page, side) for side in (0, 1)] == stopped_text  # nothing streams after Stop
    pictures.shoot(page, "browser-video-stopped.png", full_page=True)


def test_closing_the_tab_aborts_both_requests(served, page):
    url, pool = served[0], served[1].pool
    other = page.context.new_page()
    open_page(other, url, max_tokens=4000)
    send(other, "Keep talking.", [])
    deadline = time.monotonic() + 30
    while not all(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline, "the turn never started"
        time.sleep(0.02)
    other.close()
    deadline = time.monotonic() + 20
    while any(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline, "closing the tab left a vLLM request running"
        time.sleep(0.05)


@pytest.fixture
def fresh(page, served):
    """A new tab: its own session, so an empty conversation."""
    tab = page.context.new_page()
    open_page(tab, served[0])
    yield tab
    tab.close()


def answered(tab) -> None:
    """Wait until both panes hold an answer to the turn just sent and the input unlocks again
    (a short turn can be over before a check for the locked input would run)."""
    tab.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 0)", timeout=60_000)
    finished(tab)


def test_an_example_is_sent_and_a_finished_comparison_shows_metrics_divergence_plot_export(fresh, pictures):
    fresh.locator("#pane-0 .examples .example").filter(has_text="Which day had the most orders").click()
    answered(fresh)
    assert fresh.locator("#pane-0 img").count() == 1 and fresh.locator("#pane-1 img").count() == 1
    fp8, bf16 = fresh.inner_text("#metrics-0"), fresh.inner_text("#metrics-1")
    assert "TTFT" in fp8 and "160 tokens" in fp8 and "(280 visual" in fp8 and "weights" in fp8
    assert "vs BF16: first divergence at token" in fp8 and "reference" in bf16
    assert "first divergence" in fresh.inner_text("#marks-0").lower()
    assert fresh.locator("#plot canvas, #plot svg").count() >= 1
    fresh.click("#export")
    listed = "() => (document.querySelector('#files')?.innerText || '').replace(/\\s/g, '')"
    fresh.wait_for_function(f"() => ({listed})().includes('comparison.json')", timeout=10_000)
    assert "comparison.md" in fresh.evaluate(listed)
    pictures.shoot(fresh, "browser-comparison.png", docs="screenshot-comparison.png", full_page=True)


def test_thinking_switch_shows_reasoning_in_its_own_block(fresh, served, pictures):
    open_page(fresh, served[0], max_tokens=24, enable_thinking=1)
    send(fresh, "Think first.", [])
    answered(fresh)
    for side in (0, 1):
        assert "🧠 Reasoning" in fresh.inner_text(f"#pane-{side}")
    pictures.shoot(fresh, "browser-thinking.png", full_page=True)


def test_markdown_and_latex_render_in_the_panes(fresh, served):
    open_page(fresh, served[0], max_tokens=4)
    send(fresh, "Is **this** $e^{i\\pi} + 1 = 0$ right?", [])
    answered(fresh)
    for side in (0, 1):  # the page renders the formula after the text arrives: wait for it, bounded
        fresh.wait_for_selector(f"#pane-{side} .katex", state="attached", timeout=20_000)  # KaTeX's
        assert fresh.locator(f"#pane-{side} strong").count() >= 1  # and Markdown the bold text


def test_files_in_the_box_show_their_token_grid_frames_and_cost_before_sending(fresh, media, pictures):
    fresh.set_input_files("#box input[type=file]", [str(media["image"]), str(media["video"])])
    fresh.wait_for_function("() => document.querySelectorAll('#preview img').length === 2", timeout=20_000)
    summary = fresh.inner_text("#tokens")
    assert f"{media['image'].name}: 266 visual tokens" in summary and "visual tokens of" not in summary
    assert "8192-token context" in summary
    pictures.shoot(fresh, "browser-preview.png", full_page=True)


@pytest.mark.reliability
def test_html_in_text_and_file_names_is_shown_not_run_and_a_refusal_is_said_under_the_box(
    fresh, served, tmp_path, pictures
):
    """Hostile content: markup in the message, in an upload's name, and in a refusal message is
    displayed inert (a handler that ran would set ``window.__pwned``)."""
    from tests.helpers.media_factory import corrupt_image, scene_image

    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    named = scene_image(tmp_path, name='<img src=x onerror="window.__pwned=3">.png')
    open_page(fresh, served[0], max_tokens=4)
    send(fresh, f"Look {payload} [click](javascript:window.__pwned=4)", [str(named)])
    answered(fresh)
    broken = corrupt_image(tmp_path, name="<img src=x onerror=window.__pwned=5>broken.png")
    send(fresh, "And this?", [str(broken)])
    fresh.wait_for_function("() => document.querySelector('#notice').innerText.includes('not a readable image')")
    for link in fresh.locator("#pane-0 a").all():  # a javascript: link is not kept clickable
        assert not (link.get_attribute("href") or "").startswith("javascript:")
        link.click(timeout=2_000, no_wait_after=True)
    time.sleep(0.5)
    assert fresh.evaluate("() => window.__pwned") is None
    assert fresh.locator("#pane-0 script").count() == 0
    assert "img src=x onerror=window.__pwned=5broken.png" in fresh.inner_text("#notice")  # the name Gradio gave it
    pictures.shoot(fresh, "browser-hostile.png", full_page=True)


def test_a_link_presets_the_settings_and_says_which_values_it_ignored(fresh, served, pictures):
    open_page(fresh, served[0], max_tokens=24, temperature="hot", top_k=999, enable_thinking=1)
    said = "() => document.querySelector('#notice').innerText.includes('ignored')"
    fresh.wait_for_function(said)
    notice = fresh.inner_text("#notice")
    assert "temperature=hot (not a number)" in notice and "top_k=999 (outside 0 to 200)" in notice
    assert "max_tokens" not in notice  # the good values were taken, and not named
    assert fresh.input_value("#max-tokens input[type=number]") == "24"
    pictures.shoot(fresh, "browser-link-settings.png", full_page=True)


def test_a_panes_trash_icon_clears_the_whole_comparison(fresh, served, pictures):
    """Gradio's Chatbot empties only itself from its trash icon; here it clears every side and the
    conversation, so the next turn shows the same history in every pane."""
    open_page(fresh, served[0], max_tokens=4)
    send(fresh, "First turn.", [])
    answered(fresh)
    trash = fresh.locator('#pane-0 button[aria-label="Clear"]')
    assert trash.count() == 1 and trash.is_visible()
    trash.dispatch_event("click")
    empty = "[0, 1].every(i => !document.querySelector(`#pane-${i} [data-testid='bot']`))"
    fresh.wait_for_function(f"() => {empty}", timeout=30_000)
    send(fresh, "Second turn.", [])
    answered(fresh)
    users = [fresh.locator(f"#pane-{side} [data-testid='user']").all_inner_texts() for side in (0, 1)]
    assert users[0] == users[1] and len(users[0]) == 1 and "Second turn." in users[0][0], users
    pictures.shoot(fresh, "browser-trash.png", full_page=True)
