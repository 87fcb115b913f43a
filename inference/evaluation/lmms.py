"""Standard benchmarks through lmms-eval, on every side with the same engine type, paired per sample.

Contract: ``python -m inference.evaluation.lmms --tasks T[,T…] --limit N --out DIR --model
LABEL=CKPT …`` serves each side with vLLM's OpenAI-compatible server (this environment's vLLM, on
a free loopback port; one side after the other on a GPU, all at once with ``--cpu``, each with the
app's CPU settings and its EngineCore forked: ``inference.deploy.cpu_server``), runs
lmms-eval (its own environment, ``--lmms-python``, default ``.venv-lmms``; ``make lmms``) against
it with ``--model openai --log_samples`` and the same ``--limit``, stops the server, and pairs
the per-sample logs by task and document: ``paired(samples, reference)`` gives per task each
side's accuracy, recovery, flips and McNemar's exact test (``inference.evaluation.stats``, a
sample counting as correct when its task's first metric is at least 0.5). The result is
``DIR/standard_tasks.json``; with ``--report DIR`` (a folder the evaluation wrote) it is added to
``report.json`` as ``standard_tasks`` and the evidence card is written again. lmms-eval fetches
its datasets from the Hub at run time; ``tiny_task(folder)`` writes a task in its format whose
data lie beside it (a chart and two text questions), for a machine without the Hub.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from inference.deploy.cpu_server import server, start
from inference.deploy.processes import stop_group
from inference.evaluation.stats import Paired, summarize

ROOT = Path(__file__).resolve().parents[2]

TASK_YAML = """task: tiny_chart
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 8
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 0.0
"""
TASK_UTILS = '''"""The tiny local task's functions, in lmms-eval's format."""
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent


def doc_to_visual(doc):
    return [Image.open(HERE / doc["image"]).convert("RGB")] if doc.get("image") else []


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    return {"exact_match": float(doc["answer"].lower() in results[0].lower())}
'''
TASK_DOCS = (
    {"question": "Which day had the most orders? One word.", "answer": "thu", "image": "chart.png"},
    {"question": "Say hello.", "answer": "hello", "image": ""},
    {"question": "What is 2 + 2? Answer with a digit.", "answer": "4", "image": ""},
)


def tiny_task(folder: Path) -> Path:
    """A task named ``tiny_chart`` in lmms-eval's format, its data beside it; ``folder`` (for ``--include-path``)."""
    from inference.inputs.samples import make_chart

    folder.mkdir(parents=True, exist_ok=True)
    make_chart(folder)
    (folder / "data.jsonl").write_text("".join(json.dumps(d) + "\n" for d in TASK_DOCS))
    (folder / "tiny_chart.yaml").write_text(TASK_YAML.format(data=json.dumps(str(folder / "data.jsonl"))))
    (folder / "utils.py").write_text(TASK_UTILS)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(model: str, port: int, log: Path, cpu: bool, core: int = 0) -> subprocess.Popen[bytes]:
    """vLLM's OpenAI-compatible server for ``model`` on ``port``, healthy; its own process group.
    With ``cpu``, the app's CPU settings and its EngineCore forked (``inference.deploy.cpu_server``),
    one OpenMP thread bound to ``core`` (modulo the cores there are)."""
    extra = ("--served-model-name", "side", "--seed", "0")
    command, env = server(model, port, *extra, cpu_core=core if cpu else None)
    return start(command, env, port, log)


def lmms_eval(
    python: str, port: int, tasks: str, limit: int, out: Path, include: Path | None, log: Path
) -> dict[str, list[dict[str, Any]]]:
    """lmms-eval against the server on ``port``: its per-sample logs by task."""
    args = f"model_version=side,base_url=http://127.0.0.1:{port}/v1,api_key=EMPTY,num_concurrent=1,timeout=600"
    command = [python, "-m", "lmms_eval", "eval", "--model", "openai", "--model_args", args, "--tasks", tasks]
    command += ["--limit", str(limit), "--log_samples", "--output_path", str(out), "--batch_size", "1"]
    command += ["--include_path", str(include)] if include else []
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("w") as f:
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out, check=False)
    if done.returncode:
        raise RuntimeError(f"lmms-eval failed ({done.returncode}); see {log}")
    samples: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.rglob("*_samples_*.jsonl")):
        task = path.stem.split("_samples_", 1)[1]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not samples:
        raise RuntimeError(f"lmms-eval wrote no per-sample log under {out}; see {log}")
    return samples


def _metric(rows: Sequence[dict[str, Any]]) -> str | None:
    """The task's first metric: the first numeric field a sample log row carries beyond lmms-eval's own."""
    own = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "doc_hash", "prompt_hash", "target_hash"}
    for row in rows[:1]:
        for key, value in row.items():
            if key not in own and isinstance(value, int | float) and not isinstance(value, bool):
                return key
    return None


def paired(samples: Mapping[str, Mapping[str, list[dict[str, Any]]]], reference: str) -> list[dict[str, Any]]:
    """Per task and side, accuracy, recovery and flips against ``reference`` (samples by side, then task)."""
    out = []
    ref = samples[reference]
    for task, rows in sorted(ref.items()):
        metric = _metric(rows)
        ref_ok = {r["doc_id"]: r[metric] >= 0.5 for r in rows} if metric else {}
        for label, by_task in samples.items():
            if label == reference or task not in by_task:
                continue
            side_ok = {r["doc_id"]: r.get(metric, 0) >= 0.5 for r in by_task[task]} if metric else {}
            docs = sorted(ref_ok.keys() & side_ok.keys())
            s = summarize([Paired(ref_ok[d], side_ok[d]) for d in docs])
            row = {"task": task, "metric": metric, "label": label, "against": reference, "samples": len(docs)}
            keys = ("ref_accuracy", "side_accuracy", "recovery", "flips_lost", "flips_gained", "flips_p_value")
            row |= {k: s[k] for k in keys} | {"ci": {k: s["ci"][k] for k in ("side_accuracy", "recovery")}}
            out.append(row)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m inference.evaluation.lmms", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", required=True, help="lmms-eval task names, comma-separated (e.g. chartqa,docvqa_val)")
    p.add_argument("--limit", type=int, required=True, help="samples per task, the same on every side")
    p.add_argument("--out", type=Path, required=True, help="folder for the logs and standard_tasks.json")
    p.add_argument("--model", action="append", required=True, metavar="LABEL=MODEL", help="a side (repeat)")
    p.add_argument("--reference", metavar="LABEL", help="the side the others are compared with (default: the last)")
    p.add_argument("--include-path", type=Path, help="a folder of extra lmms-eval tasks (e.g. tiny_task's)")
    p.add_argument("--lmms-python", default=str(ROOT / ".venv-lmms" / "bin" / "python"), help="lmms-eval's Python")
    p.add_argument("--cpu", action="store_true", help="serve with the CPU settings (the tiny pair), all sides at once")
    p.add_argument("--report", type=Path, help="an evaluation's folder: add the results to its report and card")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sides = dict(m.split("=", 1) for m in args.model)
    reference = args.reference or list(sides)[-1]
    if reference not in sides or len(sides) < 2:
        sys.exit(f"Need two or more sides and a reference among them, got {list(sides)} and {reference}.")

    def side(label: str) -> dict[str, list[dict[str, Any]]]:
        folder = args.out / label
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        server = serve(sides[label], port, folder / "server.log", args.cpu, core=list(sides).index(label))
        try:
            return lmms_eval(
                args.lmms_python, port, args.tasks, args.limit, folder, args.include_path, folder / "lmms-eval.log"
            )
        finally:
            stop_group(server)

    # Accuracy, not speed: sides may share the hardware. On a GPU one server at a time (each takes
    # vLLM's default share of its memory); with --cpu (the tiny pair) all at once: a server's start is
    # mostly one core importing vLLM (test_lmms here: 141 s one at a time, 103 s at once).
    with ThreadPoolExecutor(len(sides) if args.cpu else 1) as pool:
        samples = dict(zip(sides, pool.map(side, sides), strict=True))
    result = {"tasks": args.tasks.split(","), "limit": args.limit, "results": paired(samples, reference)}
    (args.out / "standard_tasks.json").write_text(json.dumps(result, indent=2))
    print(args.out / "standard_tasks.json")
    if args.report:
        from inference.evaluation.card import write_card

        rep = json.loads((args.report / "report.json").read_text())
        rep["standard_tasks"] = result
        (args.report / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False))
        for path in write_card(rep, args.report):
            print(path)


if __name__ == "__main__":
    main()
