"""The app's scratch folders (previews, exports, evaluation sets) do not pile up across runs.

Each folder's name carries its process's id; an app that exits removes its own, and one killed
outright (SIGKILL, the OOM killer) cannot, so the next process's first ``scratch`` removes the
folders of processes that are gone and leaves those of live ones (another app or test run on the
same machine) and anything not named as a scratch folder. Real processes, a real temp folder.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ui import preview

KILLED_APP = """
import sys, tempfile
tempfile.tempdir = sys.argv[1]
from ui.preview import scratch
for kind in ("preview", "export"):
    (scratch(kind) / "file.png").write_bytes(b"x")
print(scratch("preview"), flush=True)
sys.stdin.read()
"""


ROOT = Path(__file__).resolve().parent.parent


def app(temp: Path) -> list[str]:
    """The command of a process that makes two scratch folders in ``temp`` and waits on its stdin."""
    return [sys.executable, "-c", KILLED_APP, str(temp)]


@pytest.fixture
def temp(tmp_path, monkeypatch) -> Path:
    """A temp folder of its own and a process that has made no scratch folder yet."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(preview, "_SCRATCH", {})
    preview.sweep_once.cache_clear()
    yield tmp_path
    preview.remove_scratch()
    preview.sweep_once.cache_clear()


def test_a_killed_apps_folders_go_at_the_next_start_and_a_live_ones_stay(temp):
    live, killed = (
        subprocess.Popen(app(temp), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in "ab"
    )
    try:
        live_folder = Path(live.stdout.readline().strip())
        killed_folder = Path(killed.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        before = {p.name for p in temp.iterdir()}
        assert len(before) == 4 and killed_folder.name in before and live_folder.name in before
        (temp / "qwen-demo-apt.lock").write_text("")  # named alike, not a scratch folder
        (temp / "qwen-demo-export-old1234").mkdir()  # no process id in its name: not ours to judge

        mine = preview.scratch("export")

        left = {p.name for p in temp.iterdir()}
        assert not any(f"-pid{killed.pid}-" in name for name in left), left
        assert sum(f"-pid{live.pid}-" in name for name in left) == 2 and (live_folder / "file.png").exists()
        assert {"qwen-demo-apt.lock", "qwen-demo-export-old1234", mine.name} <= left and len(left) == 5
    finally:
        for p in (live, killed):
            p.kill()
            p.wait(timeout=30)


def test_an_app_that_exits_removes_its_own_folders(temp):
    done = subprocess.run(app(temp), cwd=ROOT, input="", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == temp and list(temp.iterdir()) == []


def test_the_sweep_runs_once_a_process_not_on_every_folder(temp, monkeypatch):
    calls = []
    monkeypatch.setattr(preview, "sweep", lambda root: calls.append(root) or [])
    preview.scratch("preview")
    preview.scratch("export")
    preview.scratch("preview")
    assert calls == [temp]


def test_the_page_is_swept_when_built_before_any_handler_runs(temp):
    from inference.engines.fake import FakeFastEngine
    from inference.spec import cpu_pair
    from ui.serve import build

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = temp / f"qwen-demo-export-pid{int(ended.stdout)}-x"  # a process that has ended
    gone.mkdir()
    build(cpu_pair(Path("/nowhere/tiny")), make_engine=FakeFastEngine)
    assert not gone.exists() and preview._SCRATCH == {}  # swept, and no scratch folder made for it
