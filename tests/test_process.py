"""``python app.py`` as a user runs it: page first, engines after, and no orphan on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest
from gradio_client import Client

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.engine


def test_app_serves_then_loads_and_leaves_no_process_on_sigterm(tiny_dir):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--tiny-dir", str(tiny_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client, statuses, deadline = None, [], time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, "app.py exited early"
            try:
                client = client or Client(f"http://127.0.0.1:{port}/", download_files=False, verbose=False)
                status, box, _ = client.predict(api_name="/poll")
            except Exception:
                time.sleep(0.5)
                continue
            statuses.append((status, box["interactive"]))
            if status.startswith("✅"):
                break
            time.sleep(0.5)
        assert statuses, "the page never answered"
        last_status, last_interactive = statuses[-1]
        assert last_status.startswith("✅") and last_interactive
        # the page was up, input locked, while the engines loaded
        assert any(s.startswith("⏳") and not interactive for s, interactive in statuses)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2  # one EngineCore per engine
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphans after SIGTERM: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
