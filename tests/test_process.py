"""``python app.py`` as a user runs it: page first, engines after, nothing left behind on exit.

Two ways to run it: the Docker image's own command line with the Dockerfile's environment (on the
tiny CPU pair), stopped with SIGTERM as a container stop sends it, and ``python app.py`` stopped
with SIGINT as Ctrl-C does. Each serves the page at once with the input locked, loads both engines,
binds where it is told (127.0.0.1 by default, all interfaces in the image), refuses an
upload over ``--max-file-size``, deletes uploads older than ``--cache-hours``, never writes a
token from its environment to its logs, and on the signal exits 0 with no process left.

Both apps start together (``apps``, each on its own port, folders and log, its status polled from
the first second by a thread of its own), since most of a start is one core importing torch and
vLLM; each case then checks and stops its own app with its own signal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from gradio_client import Client, handle_file

from tests.helpers import dockerfile
from tests.helpers.media_factory import scene_image
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_reliabilitySentinel0123456789"  # a token the app must never print


def _wait_ready(proc, port: int) -> list[tuple[str, bool]]:
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
    return statuses


def container(tmp_path, port: int) -> tuple[list[str], dict[str, str], str]:
    """The Docker image's own entry point (``bench/entry.sh``, which execs ``python3 app.py``) and
    environment, on the tiny CPU pair: ``python3`` is this environment's Python, the image's
    ``DEMO_DEVICE=cuda`` becomes ``cpu`` and its /data and home folders temporary ones. Its cache
    folder starts as a container's second start finds it: vLLM's model-class record and matplotlib's
    font list copied from this machine's (a first start spends ~16 s making them: 13 s inspecting
    the model class in a subprocess, 3 s listing fonts, nothing this test checks)."""
    docker = dockerfile.parsed()
    (script,) = dockerfile.entrypoint(docker)
    image_env = dockerfile.env(docker)
    assert image_env["DEMO_DEVICE"] == "cuda" and image_env["DEMO_HOST"] == "0.0.0.0"
    python3 = tmp_path / "bin" / "python3"  # exec: the app keeps the entry script's process id
    python3.parent.mkdir()
    python3.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python3.chmod(0o755)
    here = {"DEMO_DEVICE": "cpu", "DEMO_PORT": str(port), "HF_HOME": str(tmp_path / "hf")}
    here["DEMO_DATA_DIR"] = str(tmp_path / "data")
    here |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}
    mine = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for made in ("vllm/modelinfos", "matplotlib"):  # absent on a machine's first run: a cold start then
        if (mine / made).is_dir():
            shutil.copytree(mine / made, tmp_path / "cache" / made)
    here["PATH"] = f"{python3.parent}:{os.environ['PATH']}"
    return [str(ROOT / script.removeprefix("/app/"))], {**image_env, **here}, "0.0.0.0"


@dataclass
class App:
    """One started app: its process, port, folders and host, and its statuses as polled from its start."""

    proc: subprocess.Popen
    port: int
    folder: Path
    host: str
    statuses: Future

    @property
    def log(self) -> Path:
        return self.folder / "app.log"

    @property
    def cache(self) -> Path:
        return self.folder / "gradio"


def start(how: str, port: int, folder: Path, tiny_dir: Path) -> tuple[subprocess.Popen, str]:
    """The app started the ``how`` way on ``port``, its files in ``folder``; and the host it must bind."""
    env = {**os.environ, "HF_TOKEN": SECRET, "GRADIO_TEMP_DIR": str(folder / "gradio")}
    args = ["--max-file-size", "1mb", "--cache-hours", "0.001"]
    if how == "container":  # the tiny pair from this checkout: app.py's default --tiny-dir
        command, image_env, host = container(folder, port)
        env |= image_env
    else:
        command, host = [sys.executable, "app.py", "--port", str(port), "--tiny-dir", str(tiny_dir)], "127.0.0.1"
    with (folder / "app.log").open("wb") as out:
        return subprocess.Popen([*command, *args], cwd=ROOT, stdout=out, stderr=out, env=env), host


def stop(proc: subprocess.Popen) -> None:
    """Kill what is left of an app a failed check did not stop, EngineCores included."""
    if proc.poll() is None:
        leftovers = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        for child in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        proc.wait()


@pytest.fixture(scope="module")
def apps(tiny_dir, tmp_path_factory):
    """Both apps, started at once, each on its own port; killed at the end if a case did not stop it."""
    ports: list[int] = []
    while len(ports) < 2:
        if (port := free_port()) not in ports:
            ports.append(port)
    started: dict[str, App] = {}
    with ThreadPoolExecutor(2) as pool:
        try:
            for how, port in zip(("container", "terminal"), ports, strict=True):
                folder = tmp_path_factory.mktemp(how)
                proc, host = start(how, port, folder, tiny_dir)
                started[how] = App(proc, port, folder, host, pool.submit(_wait_ready, proc, port))
            yield started
        finally:  # a failed check must not leave an app's EngineCores running for the tests after it
            for app in started.values():
                stop(app.proc)


@pytest.mark.parametrize(
    ("signum", "how"),
    [(signal.SIGTERM, "container"), (signal.SIGINT, "terminal")],
    ids=["the image's command, stopped with SIGTERM", "python app.py, Ctrl-C"],
)
def test_app_serves_then_loads_binds_where_told_and_leaves_nothing_on_a_signal(signum, how, apps, figures):
    app = apps[how]
    proc, port, cache, tmp_path = app.proc, app.port, app.cache, app.folder
    try:
        statuses = app.statuses.result()  # polled since the start: the page's first answers are in
        assert statuses, "the page never answered"
        last_status, last_interactive = statuses[-1]
        assert last_status.startswith("✅") and last_interactive
        # the page was up, input locked, while the engines loaded
        assert any(s.startswith("⏳") and not interactive for s, interactive in statuses)
        running = psutil.Process(proc.pid)
        listening = {c.laddr.ip for c in running.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        assert listening == {app.host}, listening  # loopback only, unless told otherwise (the image)
        children = running.children(recursive=True)
        assert len(children) >= 2  # one EngineCore per engine

        client = Client(f"http://127.0.0.1:{port}/", download_files=False, verbose=False)
        image = scene_image(tmp_path, name="to-expire.png")  # a name no shipped example has
        turn = client.submit({"text": "Hi", "files": [handle_file(str(image))]}, max_tokens=4, api_name="/respond")
        # looked for while the turn runs: a turn slower than the 3 s expiry (the app's warm-up beside
        # it) must not let the cleaner take the upload before it was seen
        uploads, deadline = [], time.monotonic() + 30
        while not uploads:
            assert time.monotonic() < deadline, "the upload is not in Gradio's cache"
            uploads = [p for p in cache.rglob("*") if p.is_file() and p.name == image.name]
            time.sleep(0.1)
        turn.result(timeout=120)
        big = tmp_path / "big.png"
        big.write_bytes(image.read_bytes() + b"\0" * 2_000_000)
        refused = httpx.post(f"http://127.0.0.1:{port}/gradio_api/upload", files={"files": big.open("rb")})
        assert refused.status_code == 413, refused.text  # over --max-file-size, refused by the server
        deadline = time.monotonic() + 30  # --cache-hours 0.001: 3 s old, looked for every second
        while any(p.exists() for p in uploads):
            assert time.monotonic() < deadline, "an old upload was not deleted"
            time.sleep(0.5)

        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphans after {signum!r}: {[p.pid for p in alive]}"
        figures["test_process"][f"orphans after {signal.Signals(signum).name}"] = len(alive)
    finally:
        stop(proc)
    text = app.log.read_text(errors="replace")
    assert "engines ready" in text and SECRET not in text
