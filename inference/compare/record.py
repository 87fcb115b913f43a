"""One comparison's rows, built alike for the page's export and the evaluation's report.

Contract: pure functions to plain ``dict``s (JSON types only), the same keys in
``comparison.json`` (``inference.compare.export``) and ``report.json`` (``inference.evaluation.report``):

* ``side_row``: label, model, tiny_random_checkpoint, reference, weight_bytes, kv_cache_tokens,
  quant_scheme, quant_kernel (the linear kernel(s) the engine reported its quantized layers run),
  quant_route (that route in words) (these ``None`` when the engine does not say), cpu_gemm (the
  BF16 GEMM(s) vLLM picked for the linear layers on a CPU, e.g. "oneDNN onednn_mm"; ``None`` off
  the CPU), and speed_emulated (``True`` when FP8's speed there is not that of native FP8 matmuls);
* ``answer_row``: label, reasoning, reply, note (an error or stop mark), finish_reason,
  output_tokens, prompt_tokens, visual_tokens, text_tokens, ttft_s, decode_tokens_per_s,
  total_s, kv_cache_peak_use (share of the KV cache, 0..1);
* ``agreement_row`` (one side against the reference side; ``None`` for the reference itself):
  label, against, tokens_compared (the longer answer's tokens), common_prefix_tokens,
  first_divergence (0-based index of the first token that differs; ``None``: none), token_agreement
  (share of tokens both answers have in common, aligned like ``difflib``, 0..1; ``None`` until
  both ended), exact_match (both ended by the model with the same tokens), mean_abs_logprob_gap
  (over the common prefix), timing (``race`` or ``alone``), cross_score_mean (the side's answer
  scored teacher-forced by both engines: mean of log p(side) - log p(reference) per token, nats;
  ``None`` unless cross-scored, ``inference.compare.cross``), cross_score_reverse_mean (the
  reference's answer the other way round);
* ``file_row``: name (never a server path), kind, and, once planned, resized, frames, grid_thw,
  visual_tokens;
* ``settings_row``: the generation settings a user chose (``ignore_eos``, a test switch, left out).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from inference.compare.caveats import speed_caveat
from inference.compare.transcript import Exchange
from inference.inputs.chat import GenerationSettings
from inference.inputs.media import media_kind
from inference.spec import ModelSpec


def rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def side_row(spec: ModelSpec, footprint: Any, reference: bool) -> dict[str, Any]:
    return {
        "label": spec.label,
        "model": spec.model_name,
        "tiny_random_checkpoint": spec.tiny,
        "reference": reference,
        "weight_bytes": getattr(footprint, "weight_bytes", None),
        "kv_cache_tokens": getattr(footprint, "kv_tokens", None),
        "quant_scheme": getattr(footprint, "scheme", None),
        "quant_kernel": getattr(footprint, "kernel", None),
        "quant_route": getattr(footprint, "route", None),
        "cpu_gemm": getattr(footprint, "gemm", None),
        "speed_emulated": bool(getattr(footprint, "emulated", False)),
        "speed_caveat": speed_caveat(spec, footprint) or None,  # what its speed figures do not say
    }


def answer_row(ex: Exchange, side: int, label: str) -> dict[str, Any]:
    a, parts = ex.answers[side], ex.split(side)
    m = a.metrics
    return {
        "label": label,
        "reasoning": parts.reasoning,
        "reply": parts.reply,
        "note": a.note,
        "finish_reason": a.finish_reason,
        "output_tokens": m.tokens,
        "prompt_tokens": m.prompt_tokens,
        "visual_tokens": m.visual_tokens,
        "text_tokens": m.text_tokens,
        "ttft_s": rounded(m.ttft),
        "decode_tokens_per_s": rounded(m.decode_rate, 2),
        "total_s": rounded(m.total),
        "kv_cache_peak_use": rounded(m.kv_peak, 6),
    }


def agreement_row(ex: Exchange, side: int, reference: int, labels: list[str]) -> dict[str, Any] | None:
    d = ex.divergence(side, reference)
    if d is None:
        return None
    a, b = ex.answers[side], ex.answers[reference]
    cross = ex.cross.get(side)
    return {
        "label": labels[side],
        "against": labels[reference],
        "tokens_compared": d.compared,
        "common_prefix_tokens": d.common,
        "first_divergence": d.first,  # 0-based; None: none
        "token_agreement": rounded(d.identical),
        "exact_match": bool(a.finish_reason and b.finish_reason and a.token_ids == b.token_ids),
        "mean_abs_logprob_gap": rounded(d.logprob_gap, 6),
        "timing": ex.settings.timing,
        "cross_score_mean": rounded(cross.mean if cross else None, 6),
        "cross_score_reverse_mean": rounded(cross.reverse_mean if cross else None, 6),
    }


def agreement_rows(ex: Exchange, reference: int, labels: list[str]) -> list[dict[str, Any]]:
    """Every side but the reference against the reference, in side order."""
    rows = (agreement_row(ex, i, reference, labels) for i in range(len(ex.answers)))
    return [row for row in rows if row is not None]


def file_row(path: str, fp: Any = None) -> dict[str, Any]:
    """A file by name (never its server path), with what it cost when known (``fp``: a ``FilePlan``)."""
    out: dict[str, Any] = {"name": Path(path).name, "kind": media_kind(path)}
    if fp is not None:
        p = fp.plan
        out |= {"resized": [p.width, p.height], "frames": p.frames, "grid_thw": list(p.grid), "visual_tokens": p.tokens}
    return out


def settings_row(settings: GenerationSettings) -> dict[str, Any]:
    chosen = dataclasses.asdict(settings)
    chosen.pop("ignore_eos", None)
    return chosen
