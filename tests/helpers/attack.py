"""What the security tests need to attack the app from outside: the app served, and a watch on ``/healthz``.

Contract: ``Tokenizing(spec, tokenizer)`` is a fake engine (``tests.helpers.fake_app.Spelling``:
no model) that counts a prompt with the tiny checkpoint's real tokenizer and chat template, so
tokenising a long text costs what it costs in the app. ``serve_attacked(tmp_path, engine=...,
launch=..., **build_options)`` serves the app as ``app.py`` composes it (store, blind tab, share
route) with those engines and yields ``(url, comparison)``. ``HealthWatch(url)`` asks ``/healthz``
every 20 ms from a thread while its block runs (connected before the block starts; at least one
answer timed, however short the block); ``worst`` is the slowest answer (s) and
``times`` every answer's time, so a test can show the server kept answering. ``from_outside(url,
script)`` runs ``script`` in another Python process (the attacker: its own work, such as encoding
megabytes of JSON, must not count against the server's), with ``client`` (``gradio_client``,
no cookie) and ``url`` defined, and returns what it printed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx

from inference.engines.prompt import PromptViews
from tests.helpers.fake_app import Spelling
from tests.helpers.servers import build, free_port


class Tokenizing(Spelling, PromptViews):
    """A fake engine that counts a prompt as the real one does (the tiny pair's tokenizer, through the
    backends' own ``PromptViews``); it still spells its answers as ``Spelling`` does."""

    def __init__(self, spec, tokenizer):
        super().__init__(spec)
        self.load_tokenizer(tokenizer)

    prompt_tokens = PromptViews.prompt_tokens

    def render(self, prepared, answers, settings) -> str:
        return self._tokenizer.apply_chat_template(
            prepared.messages(answers, system=settings.system), tokenize=False, add_generation_prompt=True
        )


@contextlib.contextmanager
def serve_attacked(tmp_path: Path, engine=Spelling, launch: dict | None = None, **build_options):
    import app
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair
    from inference.store.db import Store

    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    settings = build_options.pop("settings", GenerationSettings(max_tokens=12))
    page = build(cpu_pair(Path("/nowhere/tiny")), settings, store=store, make_engine=engine, **build_options)
    demo, comparison = page.demo, page.comparison
    comparison.pool.start()
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True, **(launch or {}))
    try:
        yield url, comparison
    finally:
        demo.close()
        store.close()


class HealthWatch:
    """``/healthz`` asked every 20 ms from a thread while the block runs (see the module's contract)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/healthz"
        self.times: list[float] = []
        self._connected, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        try:
            with httpx.Client(timeout=120) as http:
                http.get(self.url)  # the connection made before timing
                self._connected.set()
                while True:  # one answer timed at least: a block refused at once ends before the first
                    start = time.perf_counter()
                    http.get(self.url).raise_for_status()
                    self.times.append(time.perf_counter() - start)
                    if self._done.wait(0.02):
                        return
        finally:
            self._connected.set()  # a watch that could not connect does not hold the block up

    @property
    def worst(self) -> float:
        return max(self.times)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        self._connected.wait(120)
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


OUTSIDE = """
import sys
from gradio_client import Client
url = sys.argv[1]
client = Client(url, download_files=False, verbose=False)
"""


def from_outside(url: str, script: str, timeout: float = 120) -> str:
    """``script`` run by another Python process against ``url`` (see the module's contract): its output."""
    code = OUTSIDE + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise AssertionError(f"the outside client failed: {done.stderr[-2000:]}")
    return done.stdout
