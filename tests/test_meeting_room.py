"""The page in front of a stakeholder, in Chromium: a meeting room's 1280×800 screen and a 390×844 phone.

Engines are fakes (``tests/helpers/fake_app.py``, named so): ``Spelling`` answers at once and
cross-scores at once; ``Slow`` answers at 4 tokens a second and never finishes cross-scoring by
itself. Checked: at 1280×800 the input box, both panes and their figures are in view without
scrolling after a turn, and the examples appear once; on a phone one pane shows at a time with a
switch right above it, and the box is in view too; the box unlocks when the answers end while
cross-scoring still runs, and the next turn ends that scoring; the blind test's panes show the
prompt and a shared "answering…" line while they wait, with the link's ``max_tokens``; axe-core
(from its npm package, ``make`` installs it: ``AXE``) finds no WCAG 2 A/AA violation in any of the
three tabs after a finished turn, at 1280×800 and at 390×844. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.inputs.samples import EXAMPLES
from tests.helpers.browser import BOT_TEXT, chromium, finished, open_app, send
from tests.helpers.fake_app import Slow, serve_fake

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / ".cache/axe/node_modules/axe-core/axe.min.js"
IN_VIEW = """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.left >= 0
    && r.bottom <= window.innerHeight && r.right <= window.innerWidth; }"""
SHOWN = "(sel) => { const e = document.querySelector(sel); return !!e && e.getBoundingClientRect().height > 0; }"
# Whether each example in the first pane lies whole inside the part of the pane one sees (its
# scrolling box; a phone's sideways row counts from its left edge only).
EXAMPLES_WHOLE = """() => { const box = document.querySelector('#pane-0 .bubble-wrap').getBoundingClientRect();
  return [...document.querySelectorAll('#pane-0 .examples .example')].map(e => { const r = e.getBoundingClientRect();
    return r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left; }); }"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    with serve_fake(tmp_path_factory.mktemp("fast")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    with serve_fake(tmp_path_factory.mktemp("slow"), engine=Slow) as (url, _):
        yield url


def open_tab(browser, url: str, width: int, height: int, **settings):
    page = open_app(browser, url, (width, height), settings=settings, ready="#box textarea")
    page.wait_for_function("() => !document.querySelector('#box textarea').disabled", timeout=60_000)
    return page


def in_view(page, *selectors: str) -> dict[str, bool]:
    page.evaluate("() => window.scrollTo(0, 0)")
    return {s: page.evaluate(IN_VIEW, s) for s in selectors}


def test_a_meeting_room_screen_shows_the_box_both_panes_and_their_figures_without_scrolling(browser, fast, pictures):
    page = open_tab(browser, fast, 1280, 800)
    try:
        # the examples once: in the first pane (a click sends one), not in the second, no gallery below
        page.wait_for_selector("#pane-0 .examples .example", timeout=30_000)
        assert page.locator("#pane-0 .examples .example").count() == len(EXAMPLES)
        assert page.locator("#pane-1 .examples .example").count() == 0 and page.locator("#examples").count() == 0
        assert "answer to the same turn appears here" in page.inner_text("#pane-1")
        pictures.shoot(page, "meeting-room-1280x800-start.png")
        assert page.evaluate(EXAMPLES_WHOLE) == [True] * len(EXAMPLES)  # none starts cut off
        send(page, "Describe a sunny day.", [])
        page.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 0)", timeout=30_000)
        finished(page)
        page.wait_for_function("() => document.querySelector('#verdict').innerText.length > 0", timeout=30_000)
        shown = in_view(page, "#box", "#pane-0", "#pane-1", "#metrics-0", "#metrics-1")
        pictures.shoot(page, "meeting-room-1280x800.png")
        assert all(shown.values()), shown
        for side in (0, 1):  # the headline figures and, beside them, what the speed does not say
            figures = page.inner_text(f"#metrics-{side}")
            assert "tok/s" in figures and "tiny random checkpoint" in figures, figures
    finally:
        page.close()


def test_a_phone_switches_between_the_answers_with_the_box_in_view(browser, fast, pictures):
    page = open_tab(browser, fast, 390, 844)
    try:
        page.wait_for_selector("#pane-0 .examples .example", timeout=30_000)
        assert page.evaluate(EXAMPLES_WHOLE)[0], "the first example starts cut off"  # the rest: a sideways row
        pictures.shoot(page, "phone-390x844-start.png")
        send(page, "Describe a sunny day.", [])
        page.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 0)", timeout=30_000)
        finished(page)
        assert page.evaluate(SHOWN, "#pane-0") and not page.evaluate(SHOWN, "#pane-1")
        shown = in_view(page, "#answer-switch", "#pane-0", "#box")
        pictures.shoot(page, "phone-390x844-fp8.png")
        assert all(shown.values()), shown
        page.locator("#answer-switch label").filter(has_text="BF16").click()
        page.wait_for_function(f"() => ({SHOWN})('#pane-1') && !({SHOWN})('#pane-0')", timeout=10_000)
        shown = in_view(page, "#answer-switch", "#pane-1", "#box")
        pictures.shoot(page, "phone-390x844-bf16.png")
        assert all(shown.values()), shown
    finally:
        page.close()


def test_the_box_unlocks_when_the_answers_end_and_the_next_turn_ends_the_scoring(browser, slow, pictures):
    page = open_tab(browser, slow, 1280, 800, max_tokens=8)
    try:
        send(page, "First turn.", [])
        page.wait_for_function("() => document.querySelector('#box textarea').disabled", timeout=10_000)
        finished(page)  # both answers ended (no "N tokens…") and the box is unlocked...
        heat = "document.querySelector('#heat-0').innerText"
        assert "being scored" in page.evaluate(f"() => {heat}")  # ...while cross-scoring still runs
        pictures.shoot(page, "unlocked-while-scoring.png")
        send(page, "Second turn.", [])  # not refused: the scoring gives way
        page.wait_for_function(
            "() => document.querySelectorAll('#pane-0 [data-testid=\"user\"]').length === 2", timeout=20_000
        )
        finished(page)
        assert "A turn is still being answered" not in page.inner_text("#notice")
    finally:
        page.close()


def test_the_blind_test_waits_with_the_prompt_and_shared_progress_in_both_panes(browser, slow, pictures):
    page = open_tab(browser, slow, 1280, 800, max_tokens=8)
    try:
        page.get_by_role("tab", name="Blind test").click()
        page.fill("#blind-box textarea", "Which one is which?")
        page.press("#blind-box textarea", "Enter")
        waiting = "l => ['A', 'B'].every(x => document.querySelector(`#blind-pane-${x}`).innerText.includes(l))"
        page.wait_for_function(f"() => ({waiting})('answering…')", timeout=10_000)
        # both panes read in one go: the shared line moves on (0 %, 10 %…) between two separate reads
        both = "() => ['A', 'B'].map(x => document.querySelector(`#blind-pane-${x}`).innerText)"
        panes = [text.split("\n", 1)[1] for text in page.evaluate(both)]  # less the letter
        assert all("Which one is which?" in p for p in panes), panes  # the prompt stays in sight
        assert panes[0] == panes[1]  # one shared line: no pane shows its own side's progress
        assert "Both answers appear together" in page.inner_text("#blind-notice")
        assert page.evaluate(IN_VIEW, "#blind-notice")
        pictures.shoot(page, "blind-waiting.png")
        page.wait_for_selector("#blind-vote", state="visible", timeout=30_000)
        page.locator("#blind-preference label").first.click()
        page.locator("#blind-guess label").first.click()
        page.click("#blind-vote-button")
        page.wait_for_function("() => /was/.test(document.querySelector('#blind-reveal').innerText)", timeout=20_000)
        reveal = page.inner_text("#blind-reveal")
        assert reveal.count("· 8 tokens ·") == 2, reveal  # the link's max_tokens=8 held in the blind test
        assert "tiny random checkpoint" in reveal  # the reveal's speed comes with its caveat
        assert "anywhere from" in page.inner_text("#blind-tally")
    finally:
        page.close()


@pytest.mark.skipif(not AXE.exists(), reason=f"axe-core is not installed ({AXE}): run make")
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["meeting-room", "phone"])
def test_axe_core_finds_no_wcag_a_or_aa_violation_in_any_tab_after_a_turn(
    browser, fast, artifacts, pictures, width, height
):
    page = open_tab(browser, fast, width, height)
    try:
        send(page, "Describe a sunny day.", [])
        page.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 0)", timeout=30_000)
        finished(page)
        page.wait_for_function("() => document.querySelector('#verdict').innerText.length > 0", timeout=30_000)
        page.add_script_tag(path=str(AXE))
        found = {}
        tabs = {"Comparison": "#box", "Evaluation": "#eval-run", "Blind test": "#blind-box"}
        for tab, inside in tabs.items():
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(inside, state="visible", timeout=10_000)  # the tab's components render
            result = page.evaluate(
                "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
                ".then(r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))})))"
            )
            found[tab] = result
            pictures.shoot(page, f"axe-{width}x{height}-{tab.split()[0].lower()}.png", full_page=True)
        (artifacts / f"axe-{width}x{height}.json").write_text(json.dumps(found, indent=1))
        assert found == {"Comparison": [], "Evaluation": [], "Blind test": []}, found
    finally:
        page.close()


def test_export_with_nothing_says_so_and_clear_forgets_the_export_and_the_share_link(browser, fast):
    page = open_tab(browser, fast, 1280, 800)
    try:
        page.click("#export")
        page.wait_for_function("() => document.querySelector('#notice').innerText.includes('Nothing to export')")
        send(page, "Describe a sunny day.", [])
        page.wait_for_function(f"() => [0, 1].every(i => ({BOT_TEXT})(i).length > 0)", timeout=30_000)
        finished(page)
        page.click("#export")
        page.wait_for_function("() => (document.querySelector('#files')?.innerText || '').includes('comparison')")
        page.click("#share")
        page.wait_for_selector("#share-link a", timeout=30_000)
        page.click("#clear")
        page.wait_for_function(
            "() => !document.querySelector('#share-link a') && !(document.querySelector('#files')?.offsetHeight)",
            timeout=10_000,
        )
    finally:
        page.close()
