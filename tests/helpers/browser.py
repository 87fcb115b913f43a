"""Debian's Chromium driven by Playwright: how to launch it and how to talk to the page.

Contract: ``CHROMIUM`` and ``ARGS`` launch the browser (headless, nothing downloaded); ``send``
attaches files and sends a message; ``BOT_TEXT`` is the script that reads pane ``i``'s latest
answer; ``finished`` waits until the turn is over on every side.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
BOT_TEXT = """(i) => {
  const bots = document.querySelectorAll(`#pane-${i} [data-testid="bot"]`);
  return bots.length ? bots[bots.length - 1].innerText.trim() : "";
}"""


def send(page, text: str, files: list[str]) -> None:
    if files:
        page.set_input_files("#box input[type=file]", files)
        page.wait_for_selector('#box [aria-label="File thumbnail"]', timeout=15_000)
    page.fill("#box textarea", text)
    page.press("#box textarea", "Enter")


def finished(tab) -> None:
    """Wait until the turn is over on every side: no metrics line counts tokens still coming ("N
    tokens…") and the input is unlocked (a new turn's box unlocks a render before it locks)."""
    over = "i => !/tokens…/.test(document.querySelector(`#metrics-${i}`).innerText)"
    tab.wait_for_function(
        f"() => [0, 1].every({over}) && !document.querySelector('#box textarea').disabled", timeout=60_000
    )
