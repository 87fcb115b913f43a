"""The app and its engines for a test: a free port, a started pool, the served app.

Contract: ``free_port()`` is a port nobody listens on now; ``started(specs)`` is an ``EnginePool``
of ``specs``, started, shut down on exit (pass or fail); ``page_options(...)`` is the ``Options``
a test's page is built with (the app's defaults, except as ``page_options`` says);
``serve(specs, settings, video, **options)`` composes and serves the app as ``app.py`` does and
yields ``(url, comparison)`` once the engines are started and warmed up; ``serve_fake(settings,
**options)`` serves the same app on the tiny pair's specs with fake engines
(``inference.engines.fake``: no vLLM, for tests of the page around the engines) and yields
``(url, comparison)`` at once. ``options``: ``identity`` and ``store`` as ``app.build`` takes
them, the rest as ``page_options`` does.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import replace
from functools import partial

from inference.deploy.limits import UserLimits
from inference.deploy.options import Options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_options(
    video=None,
    *,
    limits=None,
    max_queue: int | None = None,
    stall_seconds: float | None = None,
    max_tokens_cap: int | None = None,
    log_prompts: bool = False,
    sign_in: bool = False,
    blind: bool = False,
    store_prompts: bool = False,
    share_days: float = 30.0,
    max_sessions: int = 1000,
    closed_session_seconds: float | None = 3600.0,
) -> Options:
    """The options of a test's page: the app's defaults, except no stall timeout, no upload expiry,
    no per-user or per-address limits and no cap on new tokens but the slider's own (8192) unless a
    test asks; ``video`` and ``limits`` (``VideoOptions``, ``UserLimits``) as the options that make them."""
    o = Options()
    gen = replace(o.generation, stall_seconds=stall_seconds, max_tokens=max_tokens_cap or 8192)
    if video is not None:
        gen = replace(gen, max_video_seconds=video.max_seconds, video_backend=video.backend)
    lim = replace(o.limits, cache_hours=None, max_queue=max_queue or 0, max_sessions=max_sessions)
    lim = replace(lim, closed_session_minutes=None if closed_session_seconds is None else closed_session_seconds / 60)
    limits = limits or UserLimits(running=0, per_minute=0)  # none unless a test sets them
    lim = replace(lim, user_running=limits.running, user_per_minute=limits.per_minute, ip_cookies_per_minute=0)
    lim = replace(lim, ip_per_minute=limits.address_per_minute, ip_running=limits.address_running)
    network = replace(o.network, log_prompts=log_prompts, hf_sign_in=sign_in)
    storage = replace(o.storage, blind=blind, store_prompts=store_prompts, share_days=share_days)
    return Options(o.models, gen, lim, network, storage)


def build(specs, settings, video=None, **options):
    """``app.build`` for a test: ``settings`` the page starts with, the rest as the module says."""
    import app

    given = {k: options.pop(k) for k in ("identity", "store", "make_engine") if k in options}
    return app.build(specs, page_options(video, **options), settings=settings, **given)


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
def serve(specs, settings, video=None, **options):
    """The app as ``app.py`` composes it for ``specs`` (``options`` as ``app.build`` takes them),
    served on a free port, engines started and warmed up: yields ``(url, comparison)``."""
    import app

    page = build(specs, settings, video, **options)
    demo, comparison, pool = page.demo, page.comparison, page.comparison.pool
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True)
    try:
        pool.start()
        deadline = time.monotonic() + 60
        while pool.warm_seconds is None and time.monotonic() < deadline:
            time.sleep(0.1)
        yield url, comparison
    finally:
        demo.close()
        pool.shutdown()


@contextlib.contextmanager
def serve_fake(settings, rate: float = 2000.0, delay: float = 0.0, **options):
    """The app (``app.build`` and ``app.launch``) with fake engines in place of the tiny pair, each
    answering ``delay`` seconds after the request at ``rate`` tokens a second."""
    from pathlib import Path

    import app
    from inference.engines.fake import FakeFastEngine
    from inference.spec import cpu_pair

    fake = partial(FakeFastEngine, rate=rate, delay=delay)
    page = build(cpu_pair(Path("/nowhere/tiny")), settings, make_engine=fake, **options)
    demo, comparison, pool = page.demo, page.comparison, page.comparison.pool
    pool.start()
    _, url, _ = app.launch(page, server_port=free_port(), quiet=True)
    try:
        yield url, comparison
    finally:
        demo.close()
