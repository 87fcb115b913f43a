"""``make gpu-check``: the command to run on a GPU machine before a showcase.

Contract: ``python -m bench.gpu_check [--device auto|cpu|cuda] [--max-tokens N] [--out FILE]``
plans the GPU's memory (``inference.deploy.gpu``), starts both engines of the default pair (the 9B pair on
a CUDA GPU, the tiny pair on CPU), warms them up, then answers two fixed turns from ``examples/``
(an image and a video), once untimed (so every timed run finds its media processed), then
each side alone, one after the other, then both side by side, and
writes a Markdown table (``bench/results/gpu.md`` on a GPU, ``gpu-cpu.md`` on CPU): per side the
weights, the quantization scheme vLLM chose, the KV cache's tokens, and per turn the visual
tokens, TTFT and decode rate alone and side by side, and where the greedy answers part; then each
side alone in vLLM's benchmark conventions (``bench/serving.py``: TTFT p50/p95 of a text and an image
prompt, ITL p50 and decode rate at concurrency 1 with 128 in / ``--serving-tokens`` out, output
tokens/s at ``--concurrency`` 1, 4, 16) with the FP8 linear kernel the engine reports. Greedy,
``ignore_eos``: every answer has the same length. In the Docker image ``bench/entry.sh`` runs it
(``docker run … IMAGE gpu-check``), and the app serves the table at ``/gpu-check``. It exits
non-zero with one sentence saying what failed (no GPU memory for both, a model that would not
download or load, an engine that would not start, a turn that failed). The engines shut down at the end, pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from inference.compare.divergence import diverge
from inference.compare.metrics import SideMetrics
from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.inputs.samples import EXAMPLES
from inference.spec import CPU_PROCESS_ENV

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TURNS = {"image": EXAMPLES[0], "video": EXAMPLES[2]}  # the chart, the moving square


class CheckFailed(Exception):
    """One sentence for the person at the terminal."""


@dataclass
class Answer:
    metrics: SideMetrics
    ids: list[int]


def resolve(device: str, tiny_dir: Path):
    """The pair to check, with the GPU memory plan applied on CUDA."""
    from inference.deploy.gpu import has_cuda_gpu, plan_gpu_memory
    from inference.spec import cpu_pair, gpu_pair

    cuda = device == "cuda" or (device == "auto" and has_cuda_gpu())
    if not cuda:
        if not all((tiny_dir / d / "config.json").exists() for d in ("fp8", "bf16")):
            raise CheckFailed(f"The tiny checkpoints are missing in {tiny_dir}; run `make tiny` first.")
        return cpu_pair(tiny_dir), False
    try:
        return plan_gpu_memory(gpu_pair()), True
    except SystemExit as plan:  # the plan's own sentence: the two engines do not fit
        raise CheckFailed(f"No GPU memory for both engines: {plan.code}") from None


async def answer(engine, prepared, settings) -> Answer:
    loop = asyncio.get_running_loop()
    metrics, ids = SideMetrics(started=loop.time()), []
    async for chunk in engine.stream(prepared, [], settings):
        metrics.add(chunk, loop.time())
        ids += chunk.token_ids
    metrics.finish(loop.time())
    return Answer(metrics, ids)


async def serving_figures(pool, out_tokens: int, repeats: int, concurrencies: tuple[int, ...]) -> list:
    """Each side alone in vLLM's benchmark conventions (``bench/serving.py``)."""
    from bench.serving import measure_side

    example = TURNS["image"]
    image = prepare([UserTurn(example.text, tuple(str(ROOT / "examples" / f) for f in example.files))])
    rows = []
    for spec, engine in zip(pool.specs, pool.engines, strict=True):
        try:
            rows.append(
                (spec.label, engine.footprint, await measure_side(engine, image, out_tokens, repeats, concurrencies))
            )
        except Exception as err:
            raise CheckFailed(f"The serving figures of {spec.label} failed: {err}") from err
    return rows


async def measure(pool, settings: GenerationSettings) -> dict[str, tuple[list[Answer], list[Answer]]]:
    """Per turn: each side alone (one after the other), then all sides at once."""
    await pool.warm_up()
    results = {}
    for name, example in TURNS.items():
        prepared = prepare([UserTurn(example.text, tuple(str(ROOT / "examples" / f) for f in example.files))])
        try:
            # untimed first: each engine then finds the turn's media already processed in every
            # timed run (as every later turn of a conversation does), not only in the last ones
            await asyncio.gather(*(answer(e, prepared, replace(settings, max_tokens=1)) for e in pool.engines))
            alone = [await answer(e, prepared, settings) for e in pool.engines]
            together = list(await asyncio.gather(*(answer(e, prepared, settings) for e in pool.engines)))
        except Exception as err:
            raise CheckFailed(f"The {name} turn failed: {err}") from err
        results[name] = (alone, together)
    return results


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


def _rate(m: SideMetrics) -> str:
    return "–" if m.decode_rate is None else f"{m.decode_rate:.1f}"


def report(pool, results, cuda: bool, settings: GenerationSettings, seconds: float) -> str:
    specs, feet = pool.specs, [e.footprint for e in pool.engines]
    where = "a CUDA GPU" if cuda else f"CPU ({platform.processor() or platform.machine()}), the tiny pair"
    lines = [
        f"`make gpu-check` on {where}, {time.strftime('%Y-%m-%d %H:%M')}; {settings.max_tokens} new tokens per "
        f"answer (greedy, to the end); {seconds:.0f} s in all.",
        "",
        "| side | model | weights | scheme | KV cache |",
        "|---|---|---|---|---|",
    ]
    for s, f in zip(specs, feet, strict=True):
        b = f.weight_bytes
        weights = "–" if b is None else f"{b / 2**30:.2f} GiB" if b >= 2**28 else f"{b / 2**20:.1f} MiB"
        kv = "–" if f.kv_tokens is None else f"{f.kv_tokens:,} tokens"
        lines.append(f"| {s.label} | `{s.model_name}` | {weights} | {f.scheme or 'unquantized'} | {kv} |")
    lines += [
        "",
        "| turn | side | visual tokens | TTFT alone | TTFT side by side | decode tok/s alone | side by side |",
        "|---|---|---|---|---|---|---|",
    ]
    parts = []
    ref = next((i for i, s in enumerate(specs) if s.reference), len(specs) - 1)
    for name, (alone, together) in results.items():
        for s, a, t in zip(specs, alone, together, strict=True):
            m, n = a.metrics, t.metrics
            row = [name, s.label, str(m.visual_tokens), _ms(m.ttft), _ms(n.ttft), _rate(m), _rate(n)]
            lines.append("| " + " | ".join(row) + " |")
        for i, s in enumerate(specs):
            if i != ref:
                d = diverge(alone[ref].ids, alone[i].ids, finished=True)
                where_part = "never" if d.first is None else f"at token {d.first}"
                parts.append(
                    f"{name}: {s.label}'s greedy answer parts from {specs[ref].label}'s {where_part} of "
                    f"{d.compared} ({d.identical:.0%} identical tokens)."
                )
    return "\n".join([*lines, "", *parts]) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--out", type=Path, help="default: bench/results/gpu.md (CUDA) or gpu-cpu.md (CPU)")
    p.add_argument("--tiny-dir", type=Path, default=ROOT / ".cache" / "tiny")
    p.add_argument(
        "--serving-tokens", type=int, help="tokens out per serving request (default: 1024 on CUDA, 64 on CPU)"
    )
    p.add_argument("--repeats", type=int, help="TTFT runs per prompt (default: 10 on CUDA, 3 on CPU)")
    p.add_argument("--concurrency", default="1,4,16", help="concurrencies for output tok/s, comma-separated")
    args = p.parse_args(argv)
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    from inference.engines.pool import EnginePool

    t0 = time.monotonic()
    pool = None
    try:
        specs, cuda = resolve(args.device, args.tiny_dir)
        if any(s.fork for s in specs):  # the CPU pair's process settings, before torch loads (as app.py)
            os.environ.update(CPU_PROCESS_ENV)
        pool = EnginePool(specs)
        try:
            pool.start()
        except Exception as err:
            why = (pool.status.error or str(err)).strip().splitlines()[0]
            raise CheckFailed(f"An engine would not start (a model that did not download or load?): {why}") from err
        settings = GenerationSettings(max_tokens=args.max_tokens, ignore_eos=True)
        out_tokens = args.serving_tokens or (1024 if cuda else 64)
        repeats = args.repeats or (10 if cuda else 3)

        async def run_all():
            return await measure(pool, settings), await serving_figures(pool, out_tokens, repeats, concurrencies)

        results, serving = asyncio.run(run_all())
        from bench.serving import table

        text = report(pool, results, cuda, settings, time.monotonic() - t0)
        text += "\n" + "\n".join(table(serving, out_tokens)) + "\n"
    except CheckFailed as failed:
        print(f"gpu-check failed: {failed}", file=sys.stderr)
        return 1
    finally:
        if pool is not None:
            pool.shutdown()
    out = args.out or RESULTS / ("gpu.md" if cuda else "gpu-cpu.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
