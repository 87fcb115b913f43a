"""``inference.deploy.processes.stop_group`` on real process groups (``sh`` and ``sleep``, no engine):
the leader and what it spawned both end, SIGKILL follows a SIGTERM that is ignored, and a group
already gone is no error. ``free_large_blocks`` in fresh interpreters: a freed 16 MiB block
stays resident with glibc's default and leaves the process with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from inference.deploy.processes import stop_group


def started(script: str) -> tuple[subprocess.Popen, int]:
    """``sh -c script`` leading its own group; ``script`` prints the pid of a child it leaves running."""
    process = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    return process, int(process.stdout.readline())


def gone(pid: int, seconds: float = 10) -> bool:
    """Whether ``pid`` has ended (or is a zombie waiting for init) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def test_stop_group_ends_the_leader_and_what_it_spawned():
    process, child = started("sleep 60 & echo $!; wait")
    stop_group(process, grace=10)
    assert process.returncode == -signal.SIGTERM and gone(child)


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace():
    process, child = started("trap '' TERM; sleep 60 & echo $!; while :; do wait; done")
    began = time.monotonic()
    stop_group(process, grace=0.5)
    assert process.returncode == -signal.SIGKILL and gone(child)
    assert time.monotonic() - began >= 0.5


def test_grace_zero_kills_at_once_and_a_group_already_gone_is_no_error():
    process, child = started("sleep 60 & echo $!; wait")
    stop_group(process, grace=0)
    assert process.returncode == -signal.SIGKILL and gone(child)
    stop_group(process)  # nothing left to stop


# A 24 MiB block is allocated and freed, then a 16 MiB one; what the process's resident size lost
# when the second was freed. With glibc's default the first free raises the mmap threshold to
# 24 MiB (it rises up to 32 MiB), so the second block comes from the heap and stays resident.
RESIDENT_AFTER_FREE = """
import sys
import numpy as np
from inference.deploy.processes import free_large_blocks
if sys.argv[1] == "fixed":
    assert free_large_blocks()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
a = np.ones(24 * 2**20, np.uint8); del a
b = np.ones(16 * 2**20, np.uint8); held = rss(); del b
print(held - rss())
"""


def test_a_large_freed_block_leaves_the_process_only_with_free_large_blocks():
    def returned(mode: str) -> float:
        run = [sys.executable, "-c", RESIDENT_AFTER_FREE, mode]
        return float(subprocess.run(run, capture_output=True, text=True, check=True).stdout)

    assert returned("default") < 4  # MiB given back after the second free: glibc's default kept it
    assert returned("fixed") > 12
