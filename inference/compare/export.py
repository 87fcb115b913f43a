"""A finished comparison as a JSON-ready record and as Markdown, for people to download.

Contract: ``record(specs, footprints, exchanges, reference)`` is a plain ``dict`` (JSON types
only): the sides (model, weights, KV capacity), and per turn the settings, the inputs' names
and token counts, every answer (reasoning and reply apart) with its metrics, and every other
side's agreement with the reference side (first divergence, token agreement); the rows are
``inference.compare.record``'s, the same as in the evaluation's ``report.json``. ``markdown(record)``
renders that record; ``write(record, folder)`` writes ``comparison.json`` and ``comparison.md``.
Pure apart from ``write``; file names only, never server paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inference.compare.caveats import FP8_COVERAGE
from inference.compare.record import agreement_rows, answer_row, file_row, settings_row, side_row
from inference.compare.transcript import Exchange
from inference.spec import ModelSpec


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def record(
    specs: Sequence[ModelSpec], footprints: Sequence[Any], exchanges: Sequence[Exchange], reference: int
) -> dict[str, Any]:
    labels = [s.label for s in specs]
    sides = [side_row(s, f, i == reference) for i, (s, f) in enumerate(zip(specs, footprints, strict=True))]
    turns = []
    for ex in exchanges:
        plans = ex.files or (None,) * len(ex.turn.files)
        turns.append(
            {
                "sent_at": _iso(ex.sent_at),
                "text": ex.turn.text,
                "files": [file_row(f, plan) for f, plan in zip(ex.turn.files, plans, strict=True)],
                "settings": settings_row(ex.settings),
                "answers": [answer_row(ex, i, labels[i]) for i in range(len(ex.answers))],
                "agreement": agreement_rows(ex, reference, labels),
            }
        )
    return {"exported_at": _iso(datetime.now(timezone.utc).timestamp()), "sides": sides, "turns": turns}


def _fmt(x: Any, unit: str = "") -> str:
    return "–" if x is None else f"{x}{unit}"


def markdown(rec: dict[str, Any]) -> str:
    lines = ["# FP8 vs BF16 comparison", "", f"Exported {rec['exported_at']}.", ""]
    lines += ["| side | model | weights (bytes) | scheme | KV cache (tokens) |", "|---|---|---|---|---|"]
    for s in rec["sides"]:
        label = s["label"] + (" (reference)" if s["reference"] else "")
        model = s["model"] + (" — tiny random checkpoint, answers are noise" if s["tiny_random_checkpoint"] else "")
        scheme = s["quant_scheme"] or "unquantized"
        if s.get("quant_kernel"):
            scheme += f" with {s['quant_kernel']} ({s['quant_route']})"
        if s.get("cpu_gemm"):
            scheme += f"; matmuls on {s['cpu_gemm']}"
        lines.append(f"| {label} | {model} | {_fmt(s['weight_bytes'])} | {scheme} | {_fmt(s['kv_cache_tokens'])} |")
    lines += ["", FP8_COVERAGE]
    for n, turn in enumerate(rec["turns"], 1):
        files = ", ".join(
            f"{f['name']} ({f['kind']}" + (f", {f['visual_tokens']} visual tokens)" if "visual_tokens" in f else ")")
            for f in turn["files"]
        )
        settings = ", ".join(f"{k}={v!r}" for k, v in turn["settings"].items())
        lines += ["", f"## Turn {n}", "", f"**User:** {turn['text'] or '(no text)'}  "]
        lines += [f"**Files:** {files or 'none'}  "]
        lines += [f"**Settings:** {settings}", ""]
        lines += [
            "| side | TTFT (s) | decode tok/s | output tokens | prompt tokens (visual) | total (s) | ended |",
            "|---|---|---|---|---|---|---|",
        ]
        for a in turn["answers"]:
            prompt = f"{_fmt(a['prompt_tokens'])} ({_fmt(a['visual_tokens'])})"
            lines.append(
                f"| {a['label']} | {_fmt(a['ttft_s'])} | {_fmt(a['decode_tokens_per_s'])} | {a['output_tokens']} "
                f"| {prompt} | {_fmt(a['total_s'])} | {a['finish_reason'] or a['note'] or '–'} |"
            )
        caveats = [f"⚠️ *{s['label']}'s speed: {s['speed_caveat']}.*  " for s in rec["sides"] if s.get("speed_caveat")]
        lines += ["", *caveats] if caveats else []
        for d in turn["agreement"]:
            share = "–" if d["token_agreement"] is None else f"{d['token_agreement']:.1%}"
            first = d["first_divergence"]
            lines += [
                "",
                f"**{d['label']} vs {d['against']}:** first divergence "
                + ("none" if first is None else f"at token {first + 1}")
                + ", "
                f"common prefix {d['common_prefix_tokens']} of {d['tokens_compared']} tokens, {share} identical, "
                f"mean |Δ logprob| on the common prefix {_fmt(d['mean_abs_logprob_gap'])}; "
                f"cross-scored, mean Δ log-prob {_fmt(d['cross_score_mean'])} "
                f"({d['against']}'s answer the other way: {_fmt(d['cross_score_reverse_mean'])}).",
            ]
        for a in turn["answers"]:
            lines += ["", f"### {a['label']}", ""]
            if a["reasoning"]:
                lines += ["<details><summary>Reasoning</summary>", "", a["reasoning"], "", "</details>", ""]
            lines.append(a["reply"] or "*(no reply)*")
            if a["note"]:
                lines += ["", f"*{a['note']}*"]
    return "\n".join(lines) + "\n"


def write(rec: dict[str, Any], folder: Path) -> list[Path]:
    """``comparison.json`` and ``comparison.md`` in ``folder``; their paths."""
    paths = [folder / "comparison.json", folder / "comparison.md"]
    paths[0].write_text(json.dumps(rec, indent=2, ensure_ascii=False), encoding="utf-8")
    paths[1].write_text(markdown(rec), encoding="utf-8")
    return paths
