"""``make gpu-check`` (``bench/gpu_check.py``) on the tiny CPU pair, as CI runs it: the same script a
GPU machine runs before a showcase, so the script itself is always tested."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[1]


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_check_writes_every_figure_for_both_sides_and_both_turns(tiny_dir, tmp_path):
    out = tmp_path / "gpu-cpu.md"
    # the least that gives every figure: a decode rate and an ITL need 2 tokens, p50/p95 2 runs, the
    # output-rate columns 2 concurrencies
    done = run_check(
        "--device", "cpu", "--max-tokens", "4", "--serving-tokens", "4", "--repeats", "2", "--concurrency", "1,2",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = out.read_text()
    assert re.search(r"\| FP8 \| `tiny/fp8` \| [\d.]+ MiB \| W8A8 FP8 \| [\d,]+ tokens \|", table), table
    assert re.search(r"\| BF16 \| `tiny/bf16` \| [\d.]+ MiB \| unquantized \| [\d,]+ tokens \|", table), table
    rows = re.findall(
        r"^\| (image|video) \| (FP8|BF16) \| (\d+) \| (\d+) ms \| (\d+) ms \| ([\d.]+) \| ([\d.]+) \|$", table, re.M
    )
    assert sorted((r[0], r[1]) for r in rows) == [
        ("image", "BF16"),
        ("image", "FP8"),
        ("video", "BF16"),
        ("video", "FP8"),
    ]
    assert all(int(r[2]) > 0 for r in rows)  # visual tokens of the chart and of the clip
    assert len(re.findall(r"FP8's greedy answer parts from BF16's", table)) == 2
    # each side alone in vLLM's benchmark conventions, the FP8 side with its linear kernel
    ms, pair, rate = r"[\d.]+ ms", r"[\d.]+ ms / [\d.]+ ms", r"[\d.]+"
    serving = re.findall(
        rf"^\| (FP8|BF16) \| ([^|]+) \| ([^|]+) \| (\d+) tokens \| {pair} \| {pair} \| {ms} \| {rate} \| "
        rf"{rate} \| {rate} \|$",
        table,
        re.M,
    )
    assert [(r[0], r[1]) for r in serving] == [("FP8", "W8A8 FP8"), ("BF16", "unquantized")], table
    assert serving[0][2] != "–" and serving[1][2] == "–"  # a kernel (or "not reported") only where quantized
    assert all(int(r[3]) >= 128 for r in serving)  # the ~128-token prompt, chat template included


def test_a_check_that_cannot_run_says_why_in_one_sentence(tmp_path):
    done = run_check("--device", "cpu", "--tiny-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.md"))
    assert done.returncode == 1 and not (tmp_path / "x.md").exists()
    assert done.stderr.strip().splitlines()[-1] == (
        f"gpu-check failed: The tiny checkpoints are missing in {tmp_path / 'nowhere'}; run `make tiny` first."
    )
