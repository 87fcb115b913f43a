"""FP8 ÷ BF16 decode and prefill rates of the tiny pair on this CPU, for each FP8 route (``make bench-fp8``).

Contract: for each route, a fresh process starts the tiny FP8 engine and the tiny BF16 engine the way
the app does (``inference.spec.cpu_pair``), each timed alone, never side by side, and reads from the
FP8 engine the linear kernel its quantized layers actually run (``Engine.footprint.kernel``). Routes:

* ``emulated``: the project's default, ``CPUEmulatedFP8ScaledMMLinearKernel`` (inference/engines/cpu_fp8.py);
* ``vllm``: vLLM's own choice with that kernel switched off (``VLLM_DISABLED_KERNELS``), i.e.
  ``ChannelWiseTorchFP8ScaledMMLinearKernel`` → ``torch._scaled_mm`` (oneDNN on CPUs with AMX,
  ATen's FP32 fallback elsewhere);
* ``amx-gemm``: the project's route with the GEMM vLLM picks on an Intel Xeon with AMX, on both
  sides (``cpu_fp8.choose_gemms_as_on_amx``): sgl-kernel's ``weight_packed_linear`` for every weight up to 1 MiB,
  i.e. every linear layer of the tiny pair; oneDNN's otherwise. Run on a CPU without AMX (sgl-kernel
  then computes with AVX-512-BF16), it shows that code path and its FP8 ÷ BF16 ratio, not AMX's
  speed; a CPU without AVX-512-BF16 skips it.

The linear layers' GEMM each side ran, read from the engines (``Engine.footprint.gemm``), is named
in the table.

Per side: decode tokens/s (``DECODE`` tokens, ignore_eos, rate over tokens after the first) and prefill
tokens/s (a ~``PREFILL``-word text prompt, one new token), medians of ``REPS``, the sides taking turns
rep by rep. The ratios are FP8 ÷ BF16 within the same process, so a busy machine moves both sides. Writes
``bench/results/fp8_cpu.json`` and ``fp8_cpu.md`` and quotes the latter in docs/performance.md
(block ``fp8-cpu``). The table also names the CPU and torch's and oneDNN's view of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, TINY, save

REPS = 5
DECODE = 128
PREFILL = 1500
QUICK = {"reps": 3, "decode": 64, "prefill": 500}  # ``--quick``: the first lines of ``make test``
ROUTES = {"emulated": {}, "vllm": {"VLLM_DISABLED_KERNELS": "CPUEmulatedFP8ScaledMMLinearKernel"}, "amx-gemm": {}}


def child(route: str, reps: int = REPS, decode_tokens: int = DECODE, prefill_words: int = PREFILL) -> dict:
    """Measure one route inside this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    import asyncio

    from inference.deploy.cpu import cpu_facts, onednn_matmuls
    from inference.engines.pool import EnginePool
    from inference.inputs.chat import GenerationSettings, UserTurn, prepare
    from inference.spec import cpu_pair

    if route == "amx-gemm":
        from inference.engines.cpu_fp8 import choose_gemms_as_on_amx

        choose_gemms_as_on_amx()
    pool = EnginePool(cpu_pair(TINY))
    results: dict = {"route": route, "cpu": cpu_facts(), "onednn": onednn_matmuls(sys.executable), "sides": {}}

    async def one(engine, text: str, tokens: int) -> tuple[float, float, int, int]:
        settings = GenerationSettings(max_tokens=tokens, ignore_eos=True)
        t = time.perf_counter()
        first = last = None
        n = prompt = 0
        async for chunk in engine.stream(prepare([UserTurn(text)]), [], settings):
            now = time.perf_counter()
            if chunk.prompt_tokens:
                prompt = chunk.prompt_tokens
            if chunk.tokens:
                first = first or now
                last, n = now, n + chunk.tokens
        return (first or t) - t, (last or t) - (first or t), n, prompt

    async def measure() -> None:
        # One side at a time (never both at once), alternating rep by rep, so that whatever else
        # the machine is doing weighs on both sides alike.
        rates: dict[str, dict[str, list[float]]] = {e.spec.label: {"decode": [], "prefill": []} for e in pool.engines}
        for engine in pool.engines:
            await engine.warm_up()
        for _ in range(reps):
            for engine in pool.engines:
                _, span, n, _ = await one(engine, "Tell me a story.", decode_tokens)
                rates[engine.spec.label]["decode"].append((n - 1) / span)
                ttft, _, _, prompt = await one(engine, "word " * prefill_words, 1)
                rates[engine.spec.label]["prefill"].append(prompt / ttft)
        for engine in pool.engines:
            mine = rates[engine.spec.label]
            results["sides"][engine.spec.label] = {
                "decode_tok_s": statistics.median(mine["decode"]),
                "prefill_tok_s": statistics.median(mine["prefill"]),
                "kernel": engine.footprint.kernel,
                "gemm": engine.footprint.gemm,
                "scheme": engine.footprint.scheme,
            }

    for engine in pool.engines:
        engine.start()
    try:
        asyncio.run(measure())
    finally:
        pool.shutdown()
    return results


def table(runs: list[dict], reps: int = REPS, decode: int = DECODE, prefill: int = PREFILL) -> str:
    cpu, onednn = runs[0]["cpu"], runs[0]["onednn"]
    lines = [
        f"CPU: {cpu['model']} ({cpu['isa']}); torch {cpu['torch']}. A decode-sized BF16 matmul runs on "
        f"{onednn['bf16']}; an FP8 `torch._scaled_mm` on {onednn['fp8']}.",
        f"Each side alone, medians of {reps}: decode {decode} tokens, prefill a {prefill}-word prompt.",
        "",
        "| FP8 route (kernel vLLM ran) | GEMM (vLLM's, the linear layers') | FP8 decode tok/s | BF16 decode tok/s "
        "| **decode FP8 ÷ BF16** | FP8 prefill tok/s | BF16 prefill tok/s | **prefill FP8 ÷ BF16** |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        fp8, bf16 = run["sides"]["FP8"], run["sides"]["BF16"]
        gemms = {fp8.get("gemm"), bf16.get("gemm")}
        gemm = fp8.get("gemm") if len(gemms) == 1 else f"FP8 {fp8.get('gemm')}, BF16 {bf16.get('gemm')}"
        lines.append(
            f"| {run['route']}: `{fp8['kernel']}` | {gemm or '–'} "
            f"| {fp8['decode_tok_s']:.0f} | {bf16['decode_tok_s']:.0f} "
            f"| **{fp8['decode_tok_s'] / bf16['decode_tok_s']:.2f}** | {fp8['prefill_tok_s']:.0f} "
            f"| {bf16['prefill_tok_s']:.0f} | **{fp8['prefill_tok_s'] / bf16['prefill_tok_s']:.2f}** |"
        )
    return "\n".join(lines) + "\n"


def root_cause(stderr: str) -> str:
    """The first exception an EngineCore or the child raised, in one line: vLLM's tracebacks run to
    thousands of prefixed lines, and the front end's ``EngineDeadError`` only points above."""
    raised = [line for line in stderr.splitlines() if re.search(r"\b\w+(Error|Exception): ", line)]
    first = next((line for line in raised if "EngineDeadError" not in line), raised[0] if raised else "")
    return re.sub(r"^\(EngineCore pid=\d+\) ERROR \S+ \S+ \[\S+\] ", "", first).strip() or "no exception printed"


def _sgl_gemm_runs_here() -> bool:
    sys.path.insert(0, str(ROOT))
    from inference.engines.cpu_fp8 import sgl_gemm_runs_here

    return sgl_gemm_runs_here()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=sorted(ROUTES), help=argparse.SUPPRESS)
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=sorted(ROUTES))
    parser.add_argument("--no-docs", action="store_true", help="do not quote the table in docs/performance.md")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the project's route only, one short run, print the table and write nothing (make test's first lines)",
    )
    args = parser.parse_args()
    size = QUICK if args.quick else {"reps": REPS, "decode": DECODE, "prefill": PREFILL}
    if args.child:
        result = child(args.child, size["reps"], size["decode"], size["prefill"])
        print("RESULT " + json.dumps(result), flush=True)
        return
    if args.quick:
        args.routes = ["emulated"]
    runs = []
    for route in args.routes:
        if route == "amx-gemm" and not _sgl_gemm_runs_here():
            print("route amx-gemm skipped: sgl-kernel's GEMM needs AVX-512-BF16 and vLLM's CPU ops", flush=True)
            continue
        env = {**os.environ, **ROUTES[route]}
        out = subprocess.run(
            [sys.executable, "-m", "bench.fp8_cpu", "--child", route, *(["--quick"] if args.quick else [])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        found = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode or not found:
            sys.exit(f"route {route} failed ({out.returncode}): {root_cause(out.stderr)}\n{out.stderr[-12000:]}")
        runs.append(json.loads(found[-1][len("RESULT ") :]))
        if not args.quick:
            print(json.dumps(runs[-1]["sides"]), flush=True)
    text = table(runs, size["reps"], size["decode"], size["prefill"])
    if args.quick:
        print("This machine, before the tests (bench/fp8_cpu.py --quick):\n" + text, flush=True)
        return
    save("fp8_cpu", runs, text, docs=not args.no_docs)


if __name__ == "__main__":
    main()
