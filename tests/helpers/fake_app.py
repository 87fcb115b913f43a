"""The app with fake engines and a real store, for the blind test's and share links' page tests.

Contract: ``Spelling(spec)`` is a fake engine (``FakeFastEngine``, no model) whose every word names
its side (``WORDS``: ``kiwi3 kiwi4 …`` for FP8), so a test can tell which side a pane shows;
``Slow`` answers slowly and never finishes cross-scoring by itself;
``serve_fake(tmp_path, engine=Spelling, **build_options)`` composes the app as ``app.py`` does with those engines
and a SQLite store in ``tmp_path``, serves it (share route included) and yields ``(url, store)``;
everything is closed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from inference.engines.fake import FakeFastEngine
from inference.inputs.chat import GenerationSettings
from inference.spec import cpu_pair
from inference.store.db import Store
from tests.helpers.servers import build, free_port

WORDS = {"FP8": "kiwi", "BF16": "plum"}  # what each fake side spells its answer with


class Spelling(FakeFastEngine):
    """A fake engine whose every word names its side: ``kiwi3 kiwi4 …``."""

    def __init__(self, spec):
        super().__init__(spec, rate=2000.0)
        self.word = lambda token_id: f"{WORDS[spec.label]}{token_id % 10} "


class Slow(Spelling):
    """A ``Spelling`` engine that answers at ``RATE`` tokens a second and whose cross-scoring never
    ends by itself (Stop, Clear or the session's next turn must end it)."""

    RATE = 4.0

    def __init__(self, spec):
        super().__init__(spec)
        self.rate = self.RATE

    async def score(self, *args, **kwargs):
        await asyncio.Event().wait()  # until cancelled


@contextlib.contextmanager
def serve_fake(
    tmp_path: Path,
    share_days: float = 30.0,
    votes_key: str | None = None,
    metrics_key: str | None = None,
    engine=Spelling,
    **options,
):
    import app

    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    specs = cpu_pair(Path("/nowhere/tiny"))
    settings = GenerationSettings(max_tokens=12)
    page = build(specs, settings, store=store, share_days=share_days, make_engine=engine, **options)
    page.comparison.pool.start()
    served = {"votes_key": votes_key, "metrics_key": metrics_key}
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True, **served)
    try:
        yield url, store
    finally:
        page.demo.close()
        store.close()
