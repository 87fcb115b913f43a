"""The app and its engines for a test: a free port, a started pool, the served app.

Contract: ``free_port()`` is a port nobody listens on now; ``started(specs)`` is an ``EnginePool``
of ``specs``, started, shut down on exit (pass or fail); ``TEST_OPTIONS`` is the app's
``inference.deploy.options.Options`` a test's page is built with, and ``options(base, **fields)``
changes fields of an ``Options`` by their schema names; ``serve(specs, settings, **given)``
composes and serves the app as ``app.py`` does and yields ``(url, comparison)`` once the engines
are started and warmed up; ``serve_fake(settings, **given)`` serves the same app on the tiny
pair's specs with fake engines (``inference.engines.fake``: no vLLM, for tests of the page around
the engines), batching ``max_num_seqs`` turns at once if given (the queue's capacity), and yields
``(url, comparison)`` at once. ``given``: ``identity``, ``store`` and
``make_engine`` as ``app.build`` takes them, the rest ``Options`` fields (``options``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import fields, replace
from functools import partial
from typing import Any

from inference.deploy.options import Options, concerns


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The options of a test's page, in the app's own schema: its defaults, except no stall timeout, no
# upload expiry, no cap on new tokens but the slider's own (8192), no queue bound but the engines'
# and no per-user, per-address or cookie limits; a test that needs one sets it (``options(...)``).
TEST_OPTIONS = Options(
    generation=replace(Options().generation, stall_seconds=None, max_tokens=8192),
    limits=replace(
        Options().limits,
        cache_hours=None,
        max_queue=0,
        user_running=0,
        user_per_minute=0,
        ip_per_minute=0,
        ip_running=0,
        ip_cookies_per_minute=0,
    ),
)


def options(base: Options = TEST_OPTIONS, **changes: Any) -> Options:
    """``base`` with fields changed by their names in the schema, each in the concern that holds it
    (``max_queue=1`` changes ``base.limits``); a name no concern has is a ``TypeError``."""
    parts = {name: getattr(base, name) for name, _ in concerns()}
    for key, value in changes.items():
        owner = next((name for name, part in parts.items() if key in {f.name for f in fields(part)}), None)
        if owner is None:
            raise TypeError(f"no option {key!r} in inference.deploy.options.Options")
        parts[owner] = replace(parts[owner], **{key: value})
    return Options(**parts)


def build(specs, settings, **given):
    """``app.build`` for a test: ``settings`` the page starts with; ``identity``, ``store`` and
    ``make_engine`` as ``app.build`` takes them; any other keyword an ``Options`` field
    (``TEST_OPTIONS`` changed by ``options``)."""
    import app

    passed = {k: given.pop(k) for k in ("identity", "store", "make_engine") if k in given}
    return app.build(specs, options(**given), settings=settings, **passed)


@contextlib.contextmanager
def started(specs):
    """An ``EnginePool`` of ``specs``, started, shut down on exit (pass or fail)."""
    from inference.engines.pool import EnginePool

    pool = EnginePool(specs)
    try:
        pool.start()
        yield pool
    finally:
        pool.shutdown()


@contextlib.contextmanager
def serve(specs, settings, **given):
    """The app as ``app.py`` composes it for ``specs`` (``given`` as ``build`` takes it), served on
    a free port, engines started and warmed up: yields ``(url, comparison)``."""
    import app

    page = build(specs, settings, **given)
    demo, comparison, pool = page.demo, page.comparison, page.comparison.pool
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True)
    try:
        app.start_engines(pool)
        deadline = time.monotonic() + 60
        while pool.warm_seconds is None and time.monotonic() < deadline:
            time.sleep(0.1)
        yield url, comparison
    finally:
        demo.close()
        pool.shutdown()


@contextlib.contextmanager
def serve_fake(settings, rate: float = 2000.0, delay: float = 0.0, max_num_seqs: int | None = None, **given):
    """The app (``app.build`` and ``app.launch``) with fake engines in place of the tiny pair, each
    answering ``delay`` seconds after the request at ``rate`` tokens a second; ``max_num_seqs``, if
    given, is the pair's batch size (so the page's queue holds that many turns running at once)."""
    from pathlib import Path

    import app
    from inference.engines.fake import FakeFastEngine
    from inference.spec import cpu_pair

    fake = partial(FakeFastEngine, rate=rate, delay=delay)
    specs = cpu_pair(Path("/nowhere/tiny"))
    if max_num_seqs is not None:
        specs = [replace(s, engine_args={**s.engine_args, "max_num_seqs": max_num_seqs}) for s in specs]
    page = build(specs, settings, make_engine=fake, **given)
    demo, comparison, pool = page.demo, page.comparison, page.comparison.pool
    pool.start()
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True)
    try:
        yield url, comparison
    finally:
        demo.close()
