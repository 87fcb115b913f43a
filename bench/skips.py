"""What a streaming render costs the server's event loop, with and without ``ui.gradio_adapter.cheap_skips``.

Contract: ``python -m bench.skips [--renders N]`` builds the comparison page as ``app.py`` does (fake
engines: no model is loaded, the page is the real one) and hands Gradio's ``Blocks.postprocess_data``
the respond event's outputs for one render while both answers stream (``details=False``: the panes
and metrics lines change; the divergence views, plot, verdict and notice are ``gr.skip()``), ``N``
times each way in turn: ``cheap`` as the page runs, ``gradio`` with Gradio's own function (the
reference), which rebuilds every skipped component. Writes ``bench/results/skips.md`` and quotes it
in docs/performance.md (block ``skips``): milliseconds per render (median of five rounds) and
the ratio cheap ÷ gradio.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

from bench.common import cpu_model, save

ROUNDS = 5


def _conversation(words: int):
    from inference.compare.metrics import SideMetrics
    from inference.compare.transcript import Answer, Exchange
    from inference.inputs.chat import GenerationSettings, UserTurn

    text = " ".join(f"word{i}" for i in range(words))
    answers = [Answer(SideMetrics(0.0), text) for _ in "ab"]
    return [Exchange(UserTurn("Describe the picture."), GenerationSettings(), answers)]


async def _time(demo, block_fn, predictions, state, renders: int, fn) -> float:
    start = time.perf_counter()
    for _ in range(renders):
        await fn(demo, block_fn, list(predictions), state)
    return (time.perf_counter() - start) / renders * 1000


async def measure(renders: int, words: int) -> dict[str, float]:
    import gradio as gr
    from gradio.state_holder import SessionState

    from inference.engines.fake import FakeFastEngine
    from inference.spec import cpu_pair
    from ui.serve import build

    page = build(cpu_pair(Path("/nowhere/tiny")), make_engine=FakeFastEngine)
    demo, comparison = page.demo, page.comparison
    block_fn = next(f for f in demo.fns.values() if f.api_name == "respond")
    conversation = _conversation(words)
    predictions = comparison._page(None, conversation, details=False, notice=None, shown=[[1]])
    skipped = sum(1 for p in predictions if p == gr.skip())
    cheap = gr.Blocks.postprocess_data
    gradio = cheap.original
    state = SessionState(demo)
    out = {"cheap": [], "gradio": []}
    for _ in range(ROUNDS):  # in turn, so that a machine's drift hits both alike
        for name, fn in (("gradio", gradio), ("cheap", cheap)):
            out[name].append(await _time(demo, block_fn, predictions, state, renders, fn))
    same = await cheap(demo, block_fn, list(predictions), SessionState(demo)) == await gradio(
        demo, block_fn, list(predictions), SessionState(demo)
    )
    return {
        "outputs": len(predictions),
        "skipped": skipped,
        "same_output": same,
        "gradio_ms": statistics.median(out["gradio"]),
        "cheap_ms": statistics.median(out["cheap"]),
    }


def render(r: dict, renders: int, words: int) -> str:
    ratio = r["cheap_ms"] / r["gradio_ms"]
    return (
        f"The respond event's `Blocks.postprocess_data` for one streaming render ({r['outputs']} outputs, "
        f"{r['skipped']} of them `gr.skip()`; two answers of {words} words), {renders} renders each way in "
        f"turn, medians of {ROUNDS} rounds; {cpu_model()}, {os.cpu_count()} cores, {datetime.date.today()}, Python "
        f"{platform.python_version()}. The output sent is the same both ways: {r['same_output']}.\n\n"
        "| way | ms per render |\n|---|---|\n"
        f"| Gradio's own (every skip rebuilds its component) | {r['gradio_ms']:.2f} |\n"
        f"| `cheap_skips` (as the page runs) | {r['cheap_ms']:.2f} |\n"
        f"| **cheap ÷ Gradio** | **{ratio:.2f}** |\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--renders", type=int, default=200)
    p.add_argument("--words", type=int, default=300)
    args = p.parse_args()
    r = asyncio.run(measure(args.renders, args.words))
    save("skips", r, render(r, args.renders, args.words))


if __name__ == "__main__":
    main()
