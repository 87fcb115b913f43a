"""``make device-check``: the first run on a lent GPU that has PyTorch and transformers, but no vLLM
and no network (≤ 8 minutes, nothing downloaded).

Contract: ``python -m bench.device_check [--tiny-dir DIR] [--bundle DIR] [--max-tokens N] [--out FILE]``
from the repository root checks, on CUDA when torch sees a GPU and on the CPU otherwise, and
writes ``bench/results/device.md`` (the first line says whether it ran on a GPU; each part that
could not run says why):

1. the environment: Python, torch and its CUDA, transformers, compressed-tensors, the GPU and its
   compute capability, whether vLLM is there (it need not be);
2. the row-wise FP8 matmul that transformers' compressed-tensors path runs for every FP8 layer
   (``_scaled_mm_rowwise``, ``use_optimized_inference=True``), at the tiny model's and the 9B's
   shapes, against the dequantized product, next to a BF16 matmul of the same shape (pytorch#192707:
   ``CUBLAS_STATUS_NOT_SUPPORTED`` on SM 12.0), and the scheme ``inference.engines.hf_load`` picks;
3. the transformers backend (``inference/engines/hf_engine.py``) on the tiny FP8/BF16 pair: start,
   a text turn and an image turn per side (TTFT, decode rate, visual tokens), and one turn through
   a stand-in ``spaces.GPU`` that pickles the arguments and every step across, as ZeroGPU's worker
   boundary does;
4. the ZeroGPU glue as far as it runs outside a Space: ``zerogpu()`` leaves the work in process,
   the GPU seconds a request asks for, and what they count for on each GPU of ``spaces``'
   ``zero/configs.json`` (its duration factor), and whether this GPU is one of them;
5. memory: what the app reports (``Footprint.weight_bytes``: the safetensors files; the plan's
   ``inference.deploy.memory.gpu_needs``) against ``torch.cuda.memory_allocated`` after the load
   and the peak of each turn, and ``torch.cuda.mem_get_info`` against ``nvidia-smi``.

Carrying it to a machine without network: ``make device-bundle`` (here, with PyPI) downloads the
small wheels of ``requirements/device.txt`` (transformers 5.19 with Qwen3.5's classes and the
row-wise FP8 path, compressed-tensors and its pure-Python needs; not torch, which the GPU machine
has) for CPython 3.12 on manylinux x86-64 into ``.cache/device/wheels``, ``spaces``' wheel
(read for its ``configs.json`` only, never imported: it imports Gradio) into ``.cache/device``,
and copies the tiny pair into ``.cache/device/tiny``. Carry ``.cache/device`` and run
``python -m bench.device_check`` there: it unpacks the wheels into ``.cache/device/site`` and puts
that first on ``sys.path`` before importing transformers. Without a bundle it uses what is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import pickle
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / ".cache" / "device"
BUDGET_S = 8 * 60
# (m, k, n) of the FP8 check: the tiny model's decode, the 9B's decode and a 9B prefill (hidden 4096)
SHAPES = ((1, 128, 256), (1, 4096, 12288), (1024, 4096, 12288))
CPU_SHAPES = SHAPES[:1]  # the larger ones take seconds per call on some CPUs (oneDNN's reference FP8)


def use_bundle(bundle: Path) -> list[str]:
    """Unpack ``bundle/wheels/*.whl`` into ``bundle/site`` (once per set of wheels) and put it first
    on ``sys.path``; the wheels' names, or [] without a bundle."""
    wheels = sorted((bundle / "wheels").glob("*.whl"))
    if not wheels:
        return []
    site, stamp = bundle / "site", "\n".join(w.name for w in wheels)
    if not (site / ".wheels").is_file() or (site / ".wheels").read_text() != stamp:
        shutil.rmtree(site, ignore_errors=True)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(site)
        (site / ".wheels").write_text(stamp)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return [w.name for w in wheels]


def version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(device: str) -> list[tuple[str, str]]:
    import torch

    rows = [
        ("Python", platform.python_version()),
        ("torch", f"{torch.__version__} (CUDA {torch.version.cuda or 'none'})"),
        ("transformers", version("transformers")),
        ("compressed-tensors", version("compressed-tensors")),
        ("vLLM", version("vllm") + " (not needed here)"),
    ]
    if device == "cuda":
        cap = torch.cuda.get_device_capability()
        rows.append(("GPU", f"{torch.cuda.get_device_name()} (SM {cap[0]}.{cap[1]})"))
    else:
        rows.append(("GPU", "none: torch.cuda.is_available() is False"))
    return rows


def _time_ms(fn, device: str, repeat: int = 10) -> float:
    import torch

    fn()  # first call: kernel selection, workspace
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeat * 1000


def fp8_matmuls(device: str) -> list[tuple[str, str, str, str]]:
    """Per shape: the row-wise FP8 call's outcome (max error vs the dequantized product), its time
    and a BF16 matmul's; an exception is an outcome, never a crash."""
    import torch
    from transformers.integrations.compressed_tensors import _scaled_mm_rowwise, quantize_fp8_per_row

    rows = []
    for m, k, n in SHAPES if device == "cuda" else CPU_SHAPES:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(m, k, generator=gen).to(device=device, dtype=torch.bfloat16)
        w = torch.randn(n, k, generator=gen).to(device=device, dtype=torch.bfloat16)
        xq, xs = quantize_fp8_per_row(x)
        wq, ws = quantize_fp8_per_row(w)
        wt, sa, sb = wq.t(), xs.unsqueeze(-1), ws.unsqueeze(0)

        def fp8(xq=xq, wt=wt, sa=sa, sb=sb):
            return _scaled_mm_rowwise(xq, wt, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)

        bf16 = f"{_time_ms(lambda x=x, w=w: x @ w.t(), device):.3f} ms"
        try:
            out = fp8()
            want = (xq.float() * xs[:, None]) @ (wq.float() * ws[:, None]).t()
            err = float((out.float() - want).abs().max() / want.abs().max())
            rows.append(
                (
                    f"{m}×{k}×{n}",
                    f"ran, max error {err:.1e} of the largest value",
                    f"{_time_ms(fp8, device):.3f} ms",
                    bf16,
                )
            )
        except Exception as e:
            rows.append((f"{m}×{k}×{n}", f"**failed**: {type(e).__name__}: {str(e).strip()[:160]}", "–", bf16))
    return rows


def fake_spaces_gpu(task):
    """ZeroGPU's worker boundary without a Space: arguments and every yielded step are pickled
    across (as ``spaces.GPU`` does between the Space's process and its GPU worker)."""

    def across(*args, **kwargs):
        args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
        gen = task(*args, **kwargs)
        try:
            for item in gen:
                yield pickle.loads(pickle.dumps(item))
        finally:
            gen.close()

    return across


def zerogpu_configs(bundle: Path) -> tuple[list[dict], str]:
    """``spaces``' ``zero/configs.json`` (the GPUs ZeroGPU lends) and where it was read, without
    importing ``spaces`` (it imports Gradio): the installed package's file, else the bundle's wheel."""
    found = importlib.util.find_spec("spaces")
    if found and found.submodule_search_locations:
        path = Path(next(iter(found.submodule_search_locations))) / "zero" / "configs.json"
        if path.is_file():
            return json.loads(path.read_text()), f"spaces {version('spaces')} (installed)"
    for wheel in sorted(bundle.glob("spaces-*.whl")):
        with zipfile.ZipFile(wheel) as z:
            return json.loads(z.read("spaces/zero/configs.json")), wheel.name
    return [], "spaces not installed and no spaces wheel in the bundle"


def zerogpu_glue(device: str, bundle: Path, max_tokens: int) -> list[str]:
    from inference.engines.zerogpu import gpu_seconds, zerogpu

    def task():
        yield 1

    wrapped, on_zero = zerogpu(task, lambda: 1)
    lines = [f"- Off a Space `zerogpu()` leaves the work in process: {wrapped is task and not on_zero}."]
    asked = gpu_seconds({}, None, max_tokens)
    configs, source = zerogpu_configs(bundle)
    lines.append(
        f"- A {max_tokens}-token answer asks `spaces.GPU` for {asked:.1f} s per side (ZeroGPU's GPUs from {source}):"
    )
    for c in configs:
        lines.append(
            f"  - {c['model']} (SM {c['sm_major']}.{c['sm_minor']}, {c['memory'] / 2**30:.0f} GiB): counted "
            f"{asked * c['duration_factor']:.1f} s (duration factor {c['duration_factor']}; the `large` size is "
            + (
                "the whole card)"
                if c["xlarge_threshold"] is None
                else "half the card; `xlarge`, the whole one, counts ×2)"
            )
        )
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
        match = [c for c in configs if c["model"] == name]
        lines.append(f"- This GPU ({name}) is {'one of ZeroGPU’s' if match else 'not a ZeroGPU GPU'}.")
    else:
        lines.append("- This GPU: skipped, no CUDA device.")
    return lines


async def _turn(engine, prepared, settings, device: str) -> dict:
    import torch

    from inference.compare.metrics import SideMetrics

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    loop = asyncio.get_running_loop()
    m = SideMetrics(started=loop.time())
    async for chunk in engine.stream(prepared, [], settings):
        m.add(chunk, loop.time())
    m.finish(loop.time())
    peak = torch.cuda.max_memory_allocated() - base if device == "cuda" else None
    return {"ttft": m.ttft, "rate": m.decode_rate, "tokens": m.tokens, "visual": m.visual_tokens, "peak": peak}


async def run_side(spec, device: str, max_tokens: int) -> dict:
    """Start one side on the transformers backend, answer a text and an image turn, and one more
    through the ZeroGPU stand-in; what the app reports and what torch measured."""
    import torch

    from inference.engines.hf_engine import TransformersEngine
    from inference.inputs.chat import GenerationSettings, UserTurn, prepare
    from inference.inputs.samples import EXAMPLES

    before = torch.cuda.memory_allocated() if device == "cuda" else None
    engine = TransformersEngine(spec)
    t0 = time.perf_counter()
    engine.start()
    side = {"start": time.perf_counter() - t0, "footprint": engine.footprint}
    try:
        side["loaded"] = torch.cuda.memory_allocated() - before if device == "cuda" else None
        settings = GenerationSettings(max_tokens=max_tokens, ignore_eos=True)
        chart = EXAMPLES[0]
        turns = {
            "text": prepare([UserTurn("Hello")]),
            "image": prepare([UserTurn(chart.text, (str(ROOT / "examples" / chart.files[0]),))]),
        }
        await _turn(engine, turns["text"], replace(settings, max_tokens=2), device)  # warm-up, untimed
        side["turns"] = {name: await _turn(engine, p, settings, device) for name, p in turns.items()}
        engine._pieces = fake_spaces_gpu(engine._generate)  # the ZeroGPU boundary, stand-in
        side["zerogpu"] = await _turn(engine, turns["text"], settings, device)
    finally:
        engine.shutdown()
    return side


def _mib(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:.1f} MiB"


def _ms(s: float | None) -> str:
    return "–" if s is None else f"{s * 1000:.0f} ms"


def memory_lines(device: str) -> list[str]:
    if device != "cuda":
        return ["- `torch.cuda.mem_get_info` vs `nvidia-smi`: skipped, no CUDA device."]
    import torch

    from inference.deploy.memory import parse_nvidia_smi

    free, total = torch.cuda.mem_get_info()
    query = ["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"]
    try:
        smi = parse_nvidia_smi(subprocess.run(query, capture_output=True, text=True, timeout=10).stdout)
        said = f"nvidia-smi (the app's plan reads it): total {_mib(smi.total_bytes)}, free {_mib(smi.free_bytes)}"
    except Exception as e:
        said = f"nvidia-smi could not be read ({e})"
    return [f"- torch.cuda.mem_get_info: total {_mib(total)}, free {_mib(free)}; {said}."]


def report(device, env, fp8_rows, scheme, glue, sides, seconds, bundle_wheels) -> str:
    from inference.deploy.memory import gpu_needs, read_checkpoint

    head = (
        f"**Ran on a GPU** ({dict(env)['GPU']})."
        if device == "cuda"
        else "**Did not run on a GPU**: torch sees no CUDA device, so every CUDA call below was skipped "
        "and the rest ran on the CPU."
    )
    lines = [
        head,
        "",
        f"`make device-check`, {time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s in all; "
        + (
            f"carried wheels: {', '.join(bundle_wheels)}."
            if bundle_wheels
            else "no carried wheels (what is installed)."
        ),
    ]
    lines += ["", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in env)]
    lines += [
        "",
        f"Row-wise FP8 matmul (transformers' `_scaled_mm_rowwise`) on {device}:",
        "",
        "| m×k×n | FP8 call | FP8 time | BF16 matmul |",
        "|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in fp8_rows),
    ]
    if device != "cuda":
        lines.append("| 9B shapes on CUDA | skipped: no CUDA device | – | – |")
    lines += ["", f"FP8 scheme `inference.engines.hf_load` picks here: {scheme}.", "", "ZeroGPU glue:", "", *glue, ""]
    lines += [
        "| side | scheme | start | turn | TTFT | decode tok/s | tokens | visual tokens | peak over the load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, s in sides.items():
        for name, t in [*s["turns"].items(), ("text via ZeroGPU stand-in", s["zerogpu"])]:
            rate = "–" if t["rate"] is None else f"{t['rate']:.1f}"
            lines.append(
                f"| {label} | {s['footprint'].scheme or 'unquantized'} | {s['start']:.1f} s | {name} | "
                f"{_ms(t['ttft'])} | {rate} | {t['tokens']} | {t['visual']} | {_mib(t['peak'])} |"
            )
    lines += ["", "Memory, what the app reports against what torch measured:", ""]
    for label, s in sides.items():
        model = s["spec"].model
        planned = gpu_needs(label, model, *read_checkpoint(model))
        measured = _mib(s["loaded"]) if device == "cuda" else "skipped (no CUDA device)"
        lines.append(
            f"- {label}: Footprint.weight_bytes {_mib(s['footprint'].weight_bytes)}, the plan's weights "
            f"{_mib(planned.weight_bytes)} and vision peak {_mib(planned.vision_peak_bytes)}; "
            f"torch.cuda.memory_allocated after the load: {measured}."
        )
    lines += memory_lines(device)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny-dir", type=Path, help="default: BUNDLE/tiny if there, else .cache/tiny")
    p.add_argument("--bundle", type=Path, default=BUNDLE)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "device.md")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    wheels = use_bundle(args.bundle)  # before transformers is imported
    carried = args.bundle / "tiny"
    tiny = args.tiny_dir or (carried if (carried / "fp8").is_dir() else ROOT / ".cache" / "tiny")
    if not all((tiny / d / "config.json").is_file() for d in ("fp8", "bf16")):
        print(
            f"device-check failed: the tiny pair is missing in {tiny} (make tiny, or carry make device-bundle's)",
            file=sys.stderr,
        )
        return 1
    import torch

    from inference.engines.hf_load import load_options
    from inference.spec import ModelSpec

    device = "cuda" if torch.cuda.is_available() else "cpu"
    env = environment(device)
    fp8_rows = fp8_matmuls(device)
    scheme = load_options(str(tiny / "fp8"), "auto", device)[1]
    glue = zerogpu_glue(device, args.bundle, 256)
    sides = {}
    for label in ("FP8", "BF16"):
        spec = ModelSpec(label, str(tiny / label.lower()), {"dtype": "bfloat16"}, tiny=True, backend="transformers")
        sides[spec.label] = {**asyncio.run(run_side(spec, device, args.max_tokens)), "spec": spec}
        if time.monotonic() - t0 > BUDGET_S:
            print(f"device-check: over its {BUDGET_S} s budget after {spec.label}", file=sys.stderr)
            break
    text = report(device, env, fp8_rows, scheme, glue, sides, time.monotonic() - t0, wheels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
