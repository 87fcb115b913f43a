"""Stopping a process the demo started in its own process group, with everything it spawned.

Contract: a process started with ``start_new_session=True`` (a vLLM server, ``python app.py``,
the evaluation's command line) leads its own process group, and vLLM's EngineCore and Worker
processes are in it. ``stop_group(process, grace)`` sends the whole group SIGTERM, waits up to
``grace`` seconds for the leader, then sends SIGKILL and reaps it (``grace=0``: SIGKILL at once);
a group already gone is not an error. Used by the library (``inference.evaluation.lmms``), the
benchmarks and the tests alike, so that none leaves an orphaned engine behind.

``free_large_blocks()`` fixes glibc's mmap threshold at its initial 128 KiB for this process and
the ones it forks later: a large block (a decoded video's frames) is then returned to the system
when freed, and each new one is mapped and faulted in anew, which a process that computes on large
temporaries pays for (``app.start_engines`` calls it once vLLM's EngineCores have forked). By
default glibc raises the threshold to the largest block freed so far (up to 32 MiB), after which
such blocks come from the heap and stay resident: the bad-input corpus through the app grew its
process by ~830 MB with the default and ~290 MB with this (a second pass: +45 MB), on an AMD EPYC
with AVX-512. Not glibc: no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
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


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept fixed


def free_large_blocks() -> bool:
    """Blocks of 128 KiB and more go back to the system when freed (see above); False off glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError, TypeError):  # no C library by that name, or no mallopt in it
        return False
