"""Debian's Chromium driven by Playwright: how to launch it and how to talk to the page.

Contract: ``chromium()`` is Debian's Chromium launched as every browser test launches it
(``CHROMIUM``, headless, ``ARGS``; nothing downloaded), its session given the CPU share of a
user's own browser (``favour``), closed on leaving; ``open_app(browser, url,
...)`` is a page in a new context (no cookies) with a viewport, at the app, once the app says it is
ready; ``goto_app(page, url, **settings)`` opens the app in an existing page, settings preset by
its link, and waits for the same; ``app_page(url, ...)`` is both for a test that needs one page;
``send`` attaches files and sends a message; ``BOT_TEXT`` is the script that reads pane ``i``'s latest
answer; ``finished`` waits until the turn is over on every side.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
READY = "#status:has-text('Engines ready')"  # the comparison page's sign that its engines answer


# Linux's autogroup scheduling shares the CPU between sessions, and Playwright starts the browser in a
# session of its own (``setsid``). On a 2-core machine whose cores the engines hold, that session got
# ~5 % of a core while streaming (the page's main thread runnable, waiting ~0.5 s of every 0.6 s), and
# the page fell up to 30 s behind. A user's browser runs on its own device: the browser's session is
# weighted like a process at this nice value against the tests' own (docs/testing.md).
BROWSER_NICE = -5


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        children = [child for child, parent in parents.items() if parent == todo[-1]]
        todo.pop()
        found += children
        todo += children
    return found


@contextlib.contextmanager
def favour() -> Iterator[None]:
    """While inside, the sessions of this process's Chromium children weigh ``BROWSER_NICE``
    against this one's (their autogroups' nice; nothing where the kernel has no autogroups).
    Without the privilege to raise theirs, this session's own is lowered by as much while inside."""
    mine = Path("/proc/self/autogroup")
    browsers = [pid for pid in _descendants(os.getpid()) if _exe(pid) == "chromium"]
    if not mine.exists() or not browsers:
        yield
        return
    try:
        for pid in browsers:
            _set_nice(Path(f"/proc/{pid}/autogroup"), BROWSER_NICE)
    except PermissionError:  # not root: this session gives way instead (raising one's nice is allowed)
        before = int(mine.read_text().split("nice")[-1])
        _set_nice(mine, -BROWSER_NICE)
        try:
            yield
        finally:
            _set_nice(mine, before)
        return
    yield


def _set_nice(autogroup: Path, nice: int) -> None:
    """Write an autogroup's nice. Without CAP_SYS_ADMIN the kernel takes one such change in the
    whole system per 0.1 s (EAGAIN otherwise): a few tries, then it is left as it was."""
    for _ in range(5):
        try:
            autogroup.write_text(str(nice))
            return
        except BlockingIOError:  # EAGAIN
            time.sleep(0.11)


def _exe(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, headless with ``ARGS``, ``favour``ed; closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            with favour():
                yield browser
        finally:
            browser.close()


def goto_app(page, url: str, *, ready: str = READY, timeout: float = 60_000, **settings: Any) -> None:
    """Open the app at ``url`` in ``page`` (``settings`` preset by its link, ``ui.presets``) and wait
    until ``ready`` shows."""
    page.goto(f"{url}?{urlencode(settings)}" if settings else url)
    page.wait_for_selector(ready, timeout=timeout)


def open_app(
    browser,
    url: str,
    size: tuple[int, int] = (1400, 1100),
    *,
    settings: Mapping[str, Any] | None = None,
    permissions: Sequence[str] = (),
    ready: str = READY,
    timeout: float = 60_000,
) -> Any:
    """A page of the app in a new context (its own cookies) with a ``size`` viewport and
    ``settings`` preset by its link, once ``ready`` shows; ``permissions`` are granted to the app's
    origin (e.g. the clipboard)."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    if permissions:
        context.grant_permissions(list(permissions), origin=url.rstrip("/"))
    page = context.new_page()
    goto_app(page, url, ready=ready, timeout=timeout, **(settings or {}))
    return page


@contextlib.contextmanager
def app_page(url: str, size: tuple[int, int] = (1400, 1100), **how: Any) -> Iterator[Any]:
    """``open_app`` in a Chromium of its own, closed on leaving."""
    with chromium() as browser:
        yield open_app(browser, url, size, **how)


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
