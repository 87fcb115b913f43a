"""The evaluation outlives its tab (``ui.evaluation_tasks``), in Chromium on the tiny pair: a user
starts the built-in set (Run locks at once), closes the page; another user's page shows nothing of it; the first user's
new page (same browser context, so the same viewer cookie) shows its progress going on with the
time left, then its result (tables, plots, report files), again after a reload; the other user's
page still shows nothing. Screenshots ``tests/artifacts/evaluation-resume-*.png``; the finished
one is also the docs' ``screenshot-evaluation.png`` (the built-in set in the browser is run here
only: one run of it serves both, issue 28)."""

from __future__ import annotations

import re

import pytest

from inference.inputs.samples import EVALUATION

N = len(EVALUATION)
PROGRESS = re.compile(rf"(\d+)/{N} prompts")
STATUS = "() => document.querySelector('#eval-status').innerText"


def opened(context, url: str):
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#status:has-text('Engines ready')", timeout=60_000)
    page.get_by_role("tab", name="Evaluation").click()
    return page


def done(page) -> int:
    """How many prompts the page's status line says are done (0 when it shows none)."""
    found = PROGRESS.search(page.inner_text("#eval-status"))
    return int(found.group(1)) if found else 0


@pytest.mark.engine
@pytest.mark.browser
def test_an_evaluation_goes_on_after_its_tab_closes_and_its_user_gets_it_back_and_no_one_else(served, pictures):
    from tests.helpers.browser import chromium

    url = served[0]
    with chromium() as browser:
        alice = browser.new_context(viewport={"width": 1400, "height": 1100})  # the docs picture's size
        bob = browser.new_context(viewport={"width": 1280, "height": 800})
        page = opened(alice, url)
        field = page.locator("#eval-max-tokens input[type=number]")
        field.fill("16")
        field.press("Enter")
        page.click("#eval-run")
        page.wait_for_function("() => document.querySelector('#eval-run').disabled", timeout=10_000)  # locked
        page.wait_for_function(f"() => /[1-9]\\d*\\/{N} prompts/.test(({STATUS})())", timeout=120_000)
        before = done(page)
        pictures.shoot(page, "evaluation-resume-1-started.png")
        page.close()  # the tab goes; the evaluation does not

        other = opened(bob, url)  # another user (another cookie), looked at below

        again = opened(alice, url)  # the same browser: the same viewer cookie
        again.wait_for_function(f"() => /\\d+\\/{N} prompts.* left/.test(({STATUS})())", timeout=30_000)
        resumed = done(again)
        assert before <= resumed < N and not again.locator("#eval-run").is_enabled()
        assert again.input_value("#eval-max-tokens input[type=number]") == "16"  # as it was started, not 64
        pictures.shoot(again, "evaluation-resume-2-reopened.png")
        # progress goes on in the reopened page
        again.wait_for_function(
            f"() => {{ const m = ({STATUS})().match(/(\\d+)\\/{N} prompts/); return m && +m[1] > {resumed}; }}",
            timeout=120_000,
        )
        assert done(other) == 0 and other.locator("#eval-run").is_enabled()  # long after its load
        again.wait_for_function("() => document.querySelectorAll('#eval-plots img').length === 5", timeout=300_000)
        assert again.inner_text("#eval-status").startswith(f"✅ {N} prompts")
        assert "FP8 vs BF16" in again.inner_text("#eval-tables") and again.locator("#eval-run").is_enabled()
        listed = again.inner_text("#eval-files").replace("\n", "")
        assert all(name in listed for name in ("report.json", "report.md", "card.html"))
        pictures.shoot(again, "evaluation-resume-3-finished.png", docs="screenshot-evaluation.png", full_page=True)

        again.reload()  # the result stays reachable
        again.wait_for_selector("#status:has-text('Engines ready')", timeout=60_000)
        again.get_by_role("tab", name="Evaluation").click()
        again.wait_for_function("() => document.querySelectorAll('#eval-plots img').length === 5", timeout=30_000)
        listed = again.inner_text("#eval-files").replace("\n", "")
        assert all(name in listed for name in ("report.json", "report.md", "card.html"))
        assert again.inner_text("#eval-status").startswith(f"✅ {N} prompts")

        other.reload()  # the other user still sees nothing of it
        other.wait_for_selector("#status:has-text('Engines ready')", timeout=60_000)
        other.get_by_role("tab", name="Evaluation").click()
        assert other.input_value("#eval-max-tokens input[type=number]") == "64"  # the default: not alice's 16
        assert other.locator("#eval-plots img").count() == 0 and "✅" not in other.inner_text("#eval-status")
        assert other.inner_text("#eval-tables").strip() == ""
        pictures.shoot(other, "evaluation-resume-4-other-user.png")
