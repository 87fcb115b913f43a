"""Standard benchmarks through lmms-eval (``inference.evaluation.lmms``): per-sample logs paired
across sides with known flips (no engine), and the whole command on the tiny pair with a tiny
local task in lmms-eval's format (vLLM's server per side, lmms-eval in its own environment,
``make lmms``), its results added to an evaluation's report and card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inference.deploy.processes import stop_group
from inference.evaluation.lmms import paired, tiny_task

ROOT = Path(__file__).resolve().parents[1]
LMMS_PYTHON = Path(os.environ.get("LMMS_PYTHON", ROOT / ".venv-lmms" / "bin" / "python"))


def rows(scores: list[float]) -> list[dict]:
    """lmms-eval's sample log rows: its own fields and the task's metric."""
    return [{"doc_id": i, "doc": {}, "target": "x", "resps": [["y"]], "exact_match": s} for i, s in enumerate(scores)]


def test_sample_logs_pair_by_document_into_accuracy_recovery_and_flips():
    samples = {
        "FP8": {"chartqa": rows([1, 0, 1, 1, 0])},
        "BF16": {"chartqa": rows([1, 1, 0, 1, 1])},
    }
    (row,) = paired(samples, "BF16")
    assert (row["task"], row["metric"], row["label"], row["against"], row["samples"]) == (
        "chartqa",
        "exact_match",
        "FP8",
        "BF16",
        5,
    )
    assert row["ref_accuracy"] == 0.8 and row["side_accuracy"] == 0.6 and row["recovery"] == pytest.approx(75.0)
    assert (row["flips_lost"], row["flips_gained"]) == (2, 1) and row["flips_p_value"] == 1.0
    lo, hi = row["ci"]["side_accuracy"]
    assert lo <= 0.6 <= hi


def test_the_tiny_task_is_in_lmms_evals_format_with_its_data_beside_it(tmp_path):
    folder = tiny_task(tmp_path / "task")
    yaml = (folder / "tiny_chart.yaml").read_text()
    assert "task: tiny_chart" in yaml and "output_type: generate_until" in yaml and str(folder / "data.jsonl") in yaml
    docs = [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines()]
    assert len(docs) == 3 and (folder / docs[0]["image"]).is_file()


@pytest.mark.engine
@pytest.mark.timeout(600)  # starts `vllm serve` once per side and lmms-eval against each (~55 s here)
def test_the_command_runs_a_tiny_task_on_both_sides_and_feeds_the_report(tiny_dir, tmp_path):
    if not LMMS_PYTHON.exists():
        pytest.skip(f"lmms-eval's environment is not built ({LMMS_PYTHON}): run `make lmms`")
    from inference.engines.base import Footprint
    from inference.evaluation.report import build, markdown, write
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    report = tmp_path / "report"
    report.mkdir()
    # a report to extend (no prompts: the standard tasks are what this test adds)
    rep = build(cpu_pair(tiny_dir), [Footprint(1, 2)] * 2, [], GenerationSettings(), "none", "each alone")
    write(rep, report)
    out = tmp_path / "lmms"
    cmd = [sys.executable, "-m", "inference.evaluation.lmms", "--tasks", "tiny_chart", "--limit", "3"]
    cmd += ["--out", str(out), "--model", f"FP8={tiny_dir / 'fp8'}", "--model", f"BF16={tiny_dir / 'bf16'}"]
    cmd += ["--include-path", str(tiny_task(tmp_path / "task")), "--lmms-python", str(LMMS_PYTHON), "--cpu"]
    cmd += ["--report", str(report)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _, stderr = proc.communicate(timeout=840)
    finally:
        if proc.poll() is None:
            stop_group(proc, grace=0)
    assert proc.returncode == 0, stderr[-3000:] + "".join(p.read_text()[-2000:] for p in out.rglob("*.log"))
    result = json.loads((out / "standard_tasks.json").read_text())
    (row,) = result["results"]
    assert (row["task"], row["label"], row["against"], row["samples"]) == ("tiny_chart", "FP8", "BF16", 3)
    assert row["flips_lost"] + row["flips_gained"] <= 3 and 0 <= row["side_accuracy"] <= 1
    for label in ("FP8", "BF16"):  # per-sample logs kept
        assert list((out / label).rglob("*_samples_tiny_chart.jsonl")), label
    saved = json.loads((report / "report.json").read_text())
    assert saved["standard_tasks"] == result
    card = (report / "card.md").read_text()
    assert "| tiny_chart | FP8 vs BF16 | 3 |" in card and "tiny_chart" in markdown(saved)
