"""The app and its engines for a test: a free port, a started pool, the served app.

Contract: ``free_port()`` is a port nobody listens on now; ``started(specs)`` is an ``EnginePool``
of ``specs``, started, shut down on exit (pass or fail); ``serve(specs, settings, video, **options)``
composes and serves the app as ``app.py`` does and yields ``(url, comparison)`` once the engines
are started and warmed up; ``serve_fake(settings, **options)`` serves the same app on the tiny
pair's specs with fake engines (``inference.engines.fake``: no vLLM, for tests of the page around
the engines) and yields ``(url, comparison)`` at once.
"""

from __future__ import annotations

import contextlib
import socket
import time
from functools import partial


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    demo, comparison = app.build(specs, settings, video, **options)
    pool = comparison.pool
    _, url, _ = app.launch(demo, comparison, port=free_port(), quiet=True)
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
    demo, comparison = app.build(cpu_pair(Path("/nowhere/tiny")), settings, make_engine=fake, **options)
    pool = comparison.pool
    pool.start()
    _, url, _ = app.launch(demo, comparison, port=free_port(), quiet=True)
    try:
        yield url, comparison
    finally:
        demo.close()
