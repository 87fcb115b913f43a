"""What freezing the app's heap before forking an EngineCore saves (``inference.engines.vllm_engine.forking``).

Contract: ``python -m bench.fork_gc [--reps N]`` starts the tiny pair ``N`` times each way, each
start in a fresh process holding the app's heap (the app, Gradio, the UI, transformers, vLLM and
torch imported): ``frozen`` as the app starts it, ``unfrozen`` with ``forking`` made a no-op (the
reference). Per start: seconds until both engines are ready, the EngineCores' CPU seconds by then,
and each EngineCore's own memory (USS) and its share (PSS). Then ``N`` times each way, vLLM's
server of the tiny BF16 side as ``inference.deploy.cpu_server`` starts it (its EngineCore forked
inside ``forking`` too): seconds until ``/health`` answers, and the same figures of its EngineCore.
Writes ``bench/results/fork_gc.md`` and quotes it in docs/performance.md (block ``fork-gc``);
medians, and the ratio frozen ÷ unfrozen.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, TINY, cpu_model, quote_in_docs


def child(mode: str) -> dict:
    """One start of the tiny pair in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    from inference.spec import CPU_PROCESS_ENV, cpu_pair

    os.environ.update(CPU_PROCESS_ENV)
    import gradio  # noqa: F401  the heap the app's process holds when it forks its engines
    import psutil
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import vllm  # noqa: F401

    import app  # noqa: F401
    import ui.serve  # noqa: F401
    from inference.engines import vllm_engine
    from inference.engines.pool import EnginePool

    if mode == "unfrozen":
        vllm_engine.forking = contextlib.nullcontext
    objects = len(gc.get_objects())
    pool = EnginePool(cpu_pair(TINY))
    t = time.monotonic()
    try:
        pool.start()
        return {"objects": objects, **engine_cores(time.monotonic() - t, psutil.Process())}
    finally:
        pool.shutdown()


def engine_cores(ready_s: float, parent) -> dict:
    """A start's figures: ``ready_s``, and the CPU seconds and memory of ``parent``'s EngineCores
    (every process under it) now."""
    cores = parent.children(recursive=True)
    mem = [c.memory_full_info() for c in cores]
    mib = 2**20
    return {
        "ready_s": ready_s,
        "engine_cpu_s": sum(c.cpu_times().user + c.cpu_times().system for c in cores),
        "uss_mib": [m.uss / mib for m in mem],
        "pss_mib": [m.pss / mib for m in mem],
    }


# vLLM's server as ``inference.deploy.cpu_server`` runs it, ``forking`` made a no-op for the reference
SERVER = """import contextlib, sys
if sys.argv.pop(1) == "unfrozen":
    import inference.engines.vllm_engine as v
    v.forking = contextlib.nullcontext
from inference.deploy.cpu_server import main
main()
"""


def server_start(mode: str, folder: Path) -> dict:
    """One start of vLLM's server of the tiny BF16 side, ``mode`` as in ``child``, until healthy."""
    import psutil

    from inference.deploy.cpu_server import healthy, launch, server
    from inference.deploy.processes import stop_group
    from inference.evaluation.lmms import free_port

    port, log = free_port(), folder / f"server-{mode}.log"
    command, env = server(str(TINY / "bf16"), port, "--served-model-name", "side", cpu_core=0)
    command = [command[0], "-c", SERVER, mode, *command[3:]]  # ``-m inference.deploy.cpu_server`` → SERVER
    t = time.monotonic()
    process = healthy(launch(command, {**env, "PYTHONPATH": str(ROOT)}, log), port, log)
    try:
        return engine_cores(time.monotonic() - t, psutil.Process(process.pid))
    finally:
        stop_group(process)


def table(runs: dict[str, list[dict]], servers: dict[str, list[dict]]) -> str:
    model = cpu_model()
    objects = statistics.median(r["objects"] for r in runs["frozen"])
    pair = (
        f"The tiny pair started {len(runs['frozen'])} times each way, alternating, each start in a fresh "
        f"process holding the app's heap (~{objects / 1000:.0f}k objects tracked by the garbage collector); "
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}. Medians."
    )
    server = (
        f"vLLM's server of the tiny BF16 side (`inference.deploy.cpu_server`, as `make lmms` and the remote-side "
        f"tests start it) started {len(servers['frozen'])} times each way, alternating. Medians."
    )
    pair_head = (
        "| | both engines ready | EngineCores' CPU by then | each EngineCore's own memory (USS) | its share (PSS) |"
    )
    server_head = "| | `/health` answers | its EngineCore's CPU by then | its own memory (USS) | its share (PSS) |"
    parts = [_rows(pair, pair_head, runs), _rows(server, server_head, servers)]
    return "\n\n".join(parts) + "\n"


def _rows(intro: str, head: str, of: dict[str, list[dict]]) -> str:
    """``intro``, then a table under ``head``: each way's medians and the ratio frozen ÷ unfrozen."""

    def med(mode: str, key: str) -> float:
        return statistics.median(statistics.mean(r[key]) if isinstance(r[key], list) else r[key] for r in of[mode])

    keys = ("ready_s", "engine_cpu_s", "uss_mib", "pss_mib")
    rows = [intro, "", head, "|---|---|---|---|---|"]
    for mode in ("unfrozen", "frozen"):
        ready, cpu, uss, pss = (med(mode, k) for k in keys)
        rows.append(f"| {mode} | {ready:.1f} s | {cpu:.1f} s | {uss:.0f} MiB | {pss:.0f} MiB |")
    ratio = [med("frozen", k) / med("unfrozen", k) for k in keys]
    rows.append("| **frozen ÷ unfrozen** | " + " | ".join(f"**{r:.2f}**" for r in ratio) + " |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--child", choices=["frozen", "unfrozen"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    runs: dict[str, list[dict]] = {"unfrozen": [], "frozen": []}
    for _ in range(args.reps):
        for mode in runs:
            done = subprocess.run(
                [sys.executable, "-m", "bench.fork_gc", "--child", mode], cwd=ROOT, capture_output=True, text=True
            )
            if done.returncode:
                sys.exit(f"bench.fork_gc: the {mode} start failed:\n{done.stderr[-3000:]}")
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(mode, runs[mode][-1], flush=True)
    servers: dict[str, list[dict]] = {"unfrozen": [], "frozen": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.reps):
            for mode in servers:
                servers[mode].append(server_start(mode, Path(folder)))
                print("server", mode, servers[mode][-1], flush=True)
    text = table(runs, servers)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fork_gc.md").write_text(text)
    quote_in_docs("fork-gc", text, required=False)
    print(text)


if __name__ == "__main__":
    main()
