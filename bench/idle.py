"""What an idle page's server spends on Gradio's queue polls, and what a poll of 10 ms costs an event.

Contract: ``python -m bench.idle [--seconds S] [--calls N]`` serves the comparison page as ``app.py``
builds it (fake engines: no model is loaded, the page and its queue are the real ones) and, in
rounds, each way in turn: ``gradio``, the polls Gradio sets (1 ms for a new event, 10 ms for
progress, on Linux), and ``quiet``, as the page runs (``ui.gradio_adapter.quiet_queue``: 10 ms,
100 ms). Each round measures the process's CPU time over ``S`` idle seconds (nobody connected) and
then ``N`` round trips of the page's cheapest event (``/status``, no inputs) through
``gradio_client``. Writes ``bench/results/idle.md`` and quotes it in docs/performance.md (block
``idle``): the share of a core an idle server takes, the round trip's median and 90th percentile,
and the ratios quiet ÷ gradio.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

from bench.common import cpu_model, save

ROUNDS = 5


def _idle_share(seconds: float) -> float:
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def _round_trips(client, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        client.predict(api_name="/status")
        out.append((time.perf_counter() - start) * 1000)
    return out


def measure(seconds: float, calls: int) -> dict:
    import gradio as gr
    from gradio_client import Client

    from inference.engines.fake import FakeFastEngine
    from inference.evaluation.lmms import free_port
    from inference.spec import cpu_pair
    from ui.gradio_adapter import quiet_queue
    from ui.serve import build

    page = build(cpu_pair(Path("/nowhere/tiny")), make_engine=FakeFastEngine)
    demo = page.demo
    quiet = (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), ssr_mode=False, quiet=True)
    fresh = gr.Blocks().queue()._queue  # Gradio's own polls, as a page without quiet_queue has them
    gradio = (fresh.sleep_when_free, fresh.progress_update_sleep_when_free)
    ways = {"gradio": gradio, "quiet": quiet}
    idle: dict[str, list[float]] = {name: [] for name in ways}
    trips: dict[str, list[float]] = {name: [] for name in ways}
    try:
        time.sleep(2)  # the server's start-up is over
        for _ in range(ROUNDS):  # in turn, so that a machine's drift hits both alike
            for name, polls in ways.items():
                quiet_queue(demo, *polls)
                time.sleep(0.5)
                idle[name].append(_idle_share(seconds))
                client = Client(url, verbose=False)
                trips[name] += _round_trips(client, calls)
                client.close()
    finally:
        demo.close()

    def p90(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=10)[-1]

    return {
        "polls": ways,
        "idle_share": {name: statistics.median(v) for name, v in idle.items()},
        "trip_p50_ms": {name: statistics.median(v) for name, v in trips.items()},
        "trip_p90_ms": {name: p90(v) for name, v in trips.items()},
    }


def render(r: dict, seconds: float, calls: int) -> str:
    share, p50, p90 = r["idle_share"], r["trip_p50_ms"], r["trip_p90_ms"]
    g, q = r["polls"]["gradio"], r["polls"]["quiet"]
    return (
        f"The comparison page served with fake engines, {ROUNDS} rounds each way in turn: CPU of the whole "
        f"process over {seconds:g} idle seconds (median of rounds), then {calls} round trips of `/status` per "
        f"round through gradio_client (median and 90th percentile of all); {cpu_model()}, {os.cpu_count()} cores, "
        f"{datetime.date.today()}, Python {platform.python_version()}.\n\n"
        "| way | polls (event, progress) | idle server, share of a core | round trip p50 ms | p90 ms |\n"
        "|---|---|---|---|---|\n"
        f"| Gradio's own | {g[0] * 1000:g} ms, {g[1] * 1000:g} ms | {share['gradio']:.3f} | "
        f"{p50['gradio']:.1f} | {p90['gradio']:.1f} |\n"
        f"| `quiet_queue` (as the page runs) | {q[0] * 1000:g} ms, {q[1] * 1000:g} ms | {share['quiet']:.3f} | "
        f"{p50['quiet']:.1f} | {p90['quiet']:.1f} |\n"
        f"| **quiet ÷ Gradio** | | **{share['quiet'] / share['gradio']:.2f}** | "
        f"**{p50['quiet'] / p50['gradio']:.2f}** | **{p90['quiet'] / p90['gradio']:.2f}** |\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--calls", type=int, default=40)
    args = p.parse_args()
    r = measure(args.seconds, args.calls)
    save("idle", r, render(r, args.seconds, args.calls))


if __name__ == "__main__":
    main()
