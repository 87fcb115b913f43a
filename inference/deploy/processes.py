"""Stopping a process the demo started in its own process group, with everything it spawned.

Contract: a process started with ``start_new_session=True`` (a vLLM server, ``python app.py``,
the evaluation's command line) leads its own process group, and vLLM's EngineCore and Worker
processes are in it. ``stop_group(process, grace)`` sends the whole group SIGTERM, waits up to
``grace`` seconds for the leader, then sends SIGKILL and reaps it (``grace=0``: SIGKILL at once);
a group already gone is not an error. Used by the library (``inference.evaluation.lmms``), the
benchmarks and the tests alike, so that none leaves an orphaned engine behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_group(process: subprocess.Popen[Any], grace: float = 30.0) -> None:
    """Stop ``process``'s group: SIGTERM, ``grace`` seconds for it to end, then SIGKILL."""
    if grace > 0:
        signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            pass
    signal_group(process, signal.SIGKILL)
    process.wait()


def signal_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(process.pid, sig)
