"""Engine faults through the running app: a side that hangs, an engine that dies mid-answer.

Each test breaks the FP8 side's real EngineCore process (SIGSTOP, SIGKILL) while both sides
stream; the BF16 side must finish, the broken side must say what happened, the history must
stay, and the app must answer on both sides again afterwards.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from tests.helpers.clients import answers, split
from tests.helpers.clients import client as app_client
from tests.helpers.engines import core_pid, on_engine_loop
from tests.helpers.servers import serve

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

STALL = 3.0  # seconds of silence after which a side is stopped (the app's default is 120)


@pytest.fixture(scope="module")
def faulty(tiny_dir):
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    settings = GenerationSettings(max_tokens=160, ignore_eos=True)
    with serve(cpu_pair(tiny_dir), settings, stall_seconds=STALL) as served:
        yield served


@pytest.fixture
def client(faulty):
    return app_client(faulty[0])


def _streaming(job, engine, timeout: float = 30) -> None:
    """Wait until ``engine`` is answering ``job``'s turn and some text has arrived."""
    deadline = time.monotonic() + timeout
    while not (engine.num_unfinished_requests() and len(job.outputs()) > 3):
        assert time.monotonic() < deadline, "the turn did not start streaming"
        time.sleep(0.02)


def _idle(engine, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while engine.num_unfinished_requests() or on_engine_loop(engine, engine.has_work()):
        assert time.monotonic() < deadline, f"{engine.spec.label} still holds a request"
        time.sleep(0.1)


def test_a_side_that_hangs_is_stopped_and_the_other_side_finishes(client, faulty, figures):
    fp8 = faulty[1].pool.engines[0]
    _, before, _ = split(client.predict({"text": "Hello", "files": []}, max_tokens=4, api_name="/respond"))
    job = client.submit({"text": "Go on.", "files": []}, max_tokens=600, api_name="/respond")
    _streaming(job, fp8)
    pid = core_pid(fp8)
    os.kill(pid, signal.SIGSTOP)
    try:
        box, panes, metrics = split(job.result(timeout=120))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert box["interactive"] is True
    assert f"No output for {STALL:.0f} s" in answers(panes[0])[-1]
    assert "600 tokens" in metrics[1] and "No output" not in answers(panes[1])[-1]
    assert all(p[: len(b)] == b for p, b in zip(panes, before, strict=True))  # the history stays
    _idle(fp8)  # the stopped request was aborted in vLLM once the process ran again
    figures["test_faults"]["hung side stopped after"] = f"{STALL:.0f} s (other side: 600 of 600 tokens)"
    _, panes, metrics = split(client.predict({"text": "Again?", "files": []}, max_tokens=6, api_name="/respond"))
    assert all("6 tokens" in line for line in metrics) and all(len(answers(p)) == 3 for p in panes)


@pytest.fixture
def patient(faulty):
    """The stall watch at a minute for one test: a killed EngineCore must be reported as such, and on a
    loaded machine vLLM may take longer than ``STALL`` to notice the process is gone."""
    comparison = faulty[1]
    comparison.stall_seconds = 60.0
    yield
    comparison.stall_seconds = STALL


def test_a_killed_engine_is_reported_restarted_and_serves_again(client, faulty, figures, patient):
    pool = faulty[1].pool
    fp8 = pool.engines[0]
    client.predict({"text": "Hello", "files": []}, max_tokens=4, api_name="/respond")
    job = client.submit({"text": "Go on.", "files": []}, max_tokens=600, api_name="/respond")
    _streaming(job, fp8)
    said, watching = [], threading.Event()
    watcher = threading.Thread(target=_watch_status, args=(faulty[0], said, watching), daemon=True)
    watcher.start()
    first_kv = fp8.footprint.kv_tokens
    old = psutil.Process(core_pid(fp8))
    old.kill()
    killed = time.monotonic()
    box, panes, metrics = split(job.result(timeout=120))
    assert box["interactive"] is True
    assert "FP8: the engine stopped while answering" in answers(panes[0])[-1]
    assert "600 tokens" in metrics[1] and len(answers(panes[1])) == 2  # the other side finished; history kept
    # the app notices, says so on the status line, and starts a new EngineCore (the old one is reaped)
    deadline = time.monotonic() + 180
    while not (pool.health()["ok"] and fp8.restarts):
        assert time.monotonic() < deadline, f"not restarted: {pool.health()}"
        time.sleep(0.5)
    figures["test_faults"]["killed engine serving again after"] = f"{time.monotonic() - killed:.0f} s"
    # the note changes once the restarted engine's warm-up requests are done (seconds on a busy machine)
    deadline = time.monotonic() + 60
    while not any("was restarted" in line for line in said) and time.monotonic() < deadline:
        time.sleep(0.2)
    watching.set()
    watcher.join()
    restarting = [s for s in said if "FP8" in s and "restarting it" in s]
    restarted = [s for s in said if "FP8" in s and "was restarted" in s]
    assert restarting and restarted and said.index(restarting[0]) < said.index(restarted[0]), said
    assert not old.is_running() and core_pid(fp8) != old.pid
    # the new engine was given the first start's KV cache, not a size measured beside a live engine
    assert fp8._llm.vllm_config.cache_config.num_gpu_blocks_override == fp8._blocks
    assert fp8.footprint.kv_tokens == first_kv
    _, panes, metrics = split(client.predict({"text": "Back?", "files": []}, max_tokens=6, api_name="/respond"))
    assert all("6 tokens" in line for line in metrics) and all(len(answers(p)) == 3 for p in panes)


def _watch_status(url: str, said: list[str], done: threading.Event) -> None:
    """What the page's status line says, each change, until ``done``."""
    other = app_client(url)
    while not done.is_set():
        line = other.predict(api_name="/status")
        if not said or said[-1] != line:
            said.append(line)
        time.sleep(0.2)
