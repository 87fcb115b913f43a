"""An evaluation's outcomes as a report people can read: ``report.json``, ``report.md`` and plots.

Contract: ``build(specs, footprints, outcomes, settings, source, timing)`` is a plain ``dict`` (JSON
types only; ``tests/helpers/record_schema.py`` holds its JSON schema): the sides, the settings, how
the speed was timed (``timing``: "each alone", each side answering with no other side running),
per prompt every side's answer and figures (TTFT, decode tokens/s, prompt tokens visual and text,
correctness where the prompt says what a correct reply holds, whether it was timed alone) and every
other side's agreement with the reference side (token agreement, first divergence, exact match,
mean |Δ log-prob| on the common prefix), and a summary of them. The speed medians count only
answers timed alone (an answer that saw a chat turn beside it is left out and counted). Sides,
answers, agreement, files and settings are ``inference.compare.record``'s rows, the same as in the
page's ``comparison.json``. ``markdown(report)`` renders it; ``plot(report, folder)`` draws
``agreement.png``, ``speed.png`` and ``divergence.png`` with matplotlib's object API (no pyplot
state, so it may run in a thread); ``write(report, folder)`` writes all of it. Pure apart from
the files ``plot``/``write`` create; file names only, never server paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean, median
from typing import Any

from inference.compare.record import agreement_rows, answer_row, file_row, rounded, settings_row, side_row
from inference.evaluation.card import evidence_markdown, write_card
from inference.evaluation.evidence import evidence, prompt_rows
from inference.inputs.chat import GenerationSettings
from inference.spec import ModelSpec

CROSS_NOTE = (
    "Agreement cascades: once two greedy answers part, the rest compares two different texts. The "
    "cross-score does not: each side's answer is scored, token by token, by the reference's model "
    "(teacher-forced), and the mean says how much less likely (in nats per token) the reference "
    "finds what this side wrote than this side did; 0 is the same model."
)
PLOTS = ("agreement.png", "speed.png", "divergence.png")


def _stat(f: Callable[[list[float]], float], values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return f(known) if known else None


def _answers(outcome: Any, labels: list[str]) -> list[dict[str, Any]]:
    """Every side's answer (``inference.compare.record``), with whether it holds what the prompt
    expects and whether no other request ran while it was timed."""
    ex, out = outcome.exchange, []
    for i, a in enumerate(ex.answers):
        row = answer_row(ex, i, labels[i])
        correct = None if a.note else outcome.prompt.correct(row["reply"])
        out.append({**row, "correct": correct, "timed_alone": i not in outcome.shared})
    return out


def build(
    specs: Sequence[ModelSpec],
    footprints: Sequence[Any],
    outcomes: Sequence[Any],
    settings: GenerationSettings,
    source: str,
    timing: str,
) -> dict[str, Any]:
    ref = next((i for i, s in enumerate(specs) if s.reference), len(specs) - 1)
    labels = [s.label for s in specs]
    prompts = []
    for o in outcomes:
        p, ok = o.prompt, o.exchange is not None
        plans = list(o.exchange.files) if ok else []
        plans += [None] * (len(p.files) - len(plans))
        prompts.append(
            {
                "id": p.id,
                "text": p.text,
                "kind": p.kind,
                "files": [file_row(f, fp) for f, fp in zip(p.files, plans, strict=False)],
                "expect": list(p.expect),
                "answer": p.answer,
                "choice": p.choice,
                "error": o.error,
                "answers": _answers(o, labels) if ok else [],
                "agreement": agreement_rows(o.exchange, ref, labels) if ok else [],
                "paired": prompt_rows(o, ref, labels),
            }
        )
    sides, figures = [], []
    for i, (s, f) in enumerate(zip(specs, footprints, strict=True)):
        sides.append(side_row(s, f, i == ref))
        answers = [p["answers"][i] for p in prompts if p["answers"]]
        alone = [a for a in answers if a["timed_alone"]]
        checked = [a["correct"] for a in answers if a["correct"] is not None]
        figures.append(
            {
                "label": s.label,
                "checked": len(checked),
                "correct": sum(checked),
                "accuracy": rounded(sum(checked) / len(checked)) if checked else None,
                "median_ttft_s": rounded(_stat(median, [a["ttft_s"] for a in alone])),
                "median_decode_tokens_per_s": rounded(_stat(median, [a["decode_tokens_per_s"] for a in alone]), 2),
                "timed_alone": len(alone),
                "mean_visual_tokens": rounded(_stat(mean, [a["visual_tokens"] for a in answers]), 1),
                "mean_text_tokens": rounded(_stat(mean, [a["text_tokens"] for a in answers]), 1),
                "output_tokens": sum(a["output_tokens"] for a in answers),
                "errors": sum(bool(a["note"]) for a in answers),
            }
        )
    agreement = []
    for i, s in enumerate(specs):
        rows = [row for p in prompts for row in p["agreement"] if row["label"] == s.label]
        if i == ref or not rows:
            continue
        agreement.append(
            {
                "label": s.label,
                "against": specs[ref].label,
                "mean_token_agreement": rounded(_stat(mean, [r["token_agreement"] for r in rows])),
                "exact_matches": sum(r["exact_match"] for r in rows),
                "compared": len(rows),
                "median_first_divergence": _stat(median, [r["first_divergence"] for r in rows]),
                "mean_abs_logprob_gap": rounded(_stat(mean, [r["mean_abs_logprob_gap"] for r in rows]), 6),
                "mean_cross_score": rounded(_stat(mean, [r["cross_score_mean"] for r in rows]), 6),
                "mean_cross_score_reverse": rounded(_stat(mean, [r["cross_score_reverse_mean"] for r in rows]), 6),
                "cross_scored": sum(r["cross_score_mean"] is not None for r in rows),
            }
        )
    summary = {"prompts": len(prompts), "failed_prompts": sum(bool(p["error"]) for p in prompts)}
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "settings": settings_row(settings),
        "timing": timing,
        "reference": specs[ref].label,
        "sides": sides,
        "prompts": prompts,
        "summary": {**summary, "sides": figures, "agreement": agreement},
        "evidence": evidence(specs, outcomes, figures, ref),
    }


def _cell(x: Any, fmt: str = "{}", scale: float = 1, add: float = 0) -> str:
    return "–" if x is None else fmt.format(x * scale + add)


def _text(s: str, limit: int = 0) -> str:
    """One table cell's worth of text: no pipes or line breaks, cut at ``limit`` characters."""
    s = " ".join(s.split()).replace("|", "\\|")
    return s[: limit - 1] + "…" if limit and len(s) > limit else s


def _timing(rep: dict[str, Any]) -> str:
    """How the speed figures were measured, in a sentence or two."""
    said = (
        f"Speed, timed {rep['timing']}: each side answered every prompt with no other side running, one "
        "after the other (the first side rotating from prompt to prompt); race timings, with the sides "
        "sharing the hardware, are not used."
    )
    answers = [a for p in rep["prompts"] for a in p["answers"]]
    shared = sum(not a["timed_alone"] for a in answers)
    if shared:
        said += (
            f" {shared} of {len(answers)} answers saw another request (a chat turn) while timed; "
            "the speed medians leave them out."
        )
    return said


def markdown(rep: dict[str, Any], full: bool = True) -> str:
    """The report as Markdown; ``full=False``: summary and per-prompt tables only (no plots, no answers)."""
    s, sides = rep["summary"], rep["sides"]
    kinds: dict[str, int] = {}
    for p in rep["prompts"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    st = rep["settings"]
    lines = [
        "# FP8 vs BF16 evaluation",
        "",
        f"{s['prompts']} prompts from the {rep['source']} ({', '.join(f'{k} {n}' for k, n in kinds.items())}); "
        f"the same settings on every side: temperature {st['temperature']}, seed {st['seed']}, at most "
        f"{st['max_tokens']} new tokens, thinking {'on' if st['enable_thinking'] else 'off'}. Reference side: "
        f"{rep['reference']}. Created {rep['created_at']}.",
    ]
    lines += ["", _timing(rep)]
    if any(x["tiny_random_checkpoint"] for x in sides):
        lines += ["", "> ⚠️ Tiny random checkpoints: the answers are noise; the figures show the pipeline works."]
    if s["failed_prompts"]:
        lines += ["", f"{s['failed_prompts']} prompt(s) could not be sent (see below)."]
    lines += ["", "## Summary", "", "| side | model | correct (checkable) | median TTFT alone (ms) |"]
    lines[-1] += " median decode tok/s alone | output tokens | errors |"
    lines.append("|---|---|---|---|---|---|---|")
    for side, x in zip(sides, s["sides"], strict=True):
        acc = f"{x['correct']}/{x['checked']} ({x['accuracy']:.0%})" if x["checked"] else "–"
        label = x["label"] + (" (reference)" if side["reference"] else "")
        lines.append(
            f"| {label} | {side['model']} | {acc} | {_cell(x['median_ttft_s'], '{:.0f}', 1000)} "
            f"| {_cell(x['median_decode_tokens_per_s'])} | {x['output_tokens']} | {x['errors']} |"
        )
    lines += ["", "| side vs reference | mean token agreement | exact matches | median first divergence (token) |"]
    lines[-1] += " mean \\|Δ logprob\\| | cross-score (nats/token; prompts) |"
    lines.append("|---|---|---|---|---|---|")
    for a in s["agreement"]:
        first = _cell(a["median_first_divergence"], "{:g}", add=1)  # 1-based
        lines.append(
            f"| {a['label']} vs {a['against']} | {_cell(a['mean_token_agreement'], '{:.1%}')} "
            f"| {a['exact_matches']} of {a['compared']} | {first} | {_cell(a['mean_abs_logprob_gap'], '{:.4f}')} "
            f"| {_cell(a['mean_cross_score'], '{:+.4f}')} ({a['cross_scored']} of {a['compared']}) |"
        )
    lines += ["", CROSS_NOTE]
    if full:
        lines += ["", *(f"![{name[:-4]}]({name})" for name in PLOTS)]
    lines += ["", evidence_markdown(rep, images=full)]
    lines += ["", "## Per prompt", ""]
    labels = [x["label"] for x in sides]
    head = "| prompt | kind | prompt tokens (visual + text) | agreement | first divergence | exact"
    head += " | mean \\|Δ logprob\\| |"
    lines += [head + "".join(f" {x} correct |" for x in labels), "|---" * (7 + len(labels)) + "|"]
    for p in rep["prompts"]:
        if p["error"]:
            lines.append(f"| {p['id']} | {p['kind']} | ⚠️ {_text(p['error'], 120)} |" + " |" * (5 + len(labels)))
            continue
        a0 = p["answers"][0]
        tokens = f"{_cell(a0['visual_tokens'])} + {_cell(a0['text_tokens'])}"
        for g in p["agreement"]:
            marks = [{True: "✅", False: "❌", None: "–"}[a["correct"]] for a in p["answers"]]
            first = "none" if g["first_divergence"] is None else str(g["first_divergence"] + 1)
            lines.append(
                f"| {p['id']} | {p['kind']} | {tokens} | {_cell(g['token_agreement'], '{:.0%}')} | {first} "
                f"| {'yes' if g['exact_match'] else 'no'} | {_cell(g['mean_abs_logprob_gap'], '{:.4f}')} | "
                + " | ".join(marks)
                + " |"
            )
    if not full:
        return "\n".join(lines) + "\n"
    lines += ["", "## Answers"]
    for p in rep["prompts"]:
        files = ", ".join(f["name"] for f in p["files"])
        lines += ["", f"### {p['id']}: {_text(p['text'])}" + (f" [{files}]" if files else "")]
        if p["expect"]:
            lines.append(f"Expected (whole words): {', '.join(f'`{e}`' for e in p['expect'])}")
        if p["answer"] or p["choice"]:
            lines.append(
                f"Reference: {p['answer'] or ''}{' ' if p['answer'] and p['choice'] else ''}"
                f"{'choice ' + p['choice'] if p['choice'] else ''}"
            )
        for a in p["answers"]:
            end = a["note"] or a["finish_reason"] or "–"
            lines += ["", f"**{a['label']}** ({a['output_tokens']} tokens, {_text(end)}): {_text(a['reply'], 600)}"]
    return "\n".join(lines) + "\n"


def plot(rep: dict[str, Any], folder: Path) -> list[Path]:
    """The three PNGs: token agreement per prompt, speed per side, where each prompt diverged."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    sides, prompts = rep["sides"], [p for p in rep["prompts"] if p["answers"]]
    others = [a["label"] for a in rep["summary"]["agreement"]]
    paths = [folder / name for name in PLOTS]

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for label in others:
        shares = [100 * (g["token_agreement"] or 0) for p in prompts for g in p["agreement"] if g["label"] == label]
        ax.hist(shares, bins=range(0, 101, 10), label=f"{label} vs {rep['reference']}", edgecolor="white", alpha=0.8)
    ax.set(xlabel="identical tokens per prompt (%)", ylabel="prompts", title="Token agreement", xlim=(0, 100))
    if others:
        ax.legend()
    fig.savefig(paths[0], dpi=100)

    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ttft_ax, rate_ax = fig.subplots(1, 2)
    labels = [x["label"] for x in sides]
    for ax, key, title in ((ttft_ax, "ttft_s", "TTFT (s)"), (rate_ax, "decode_tokens_per_s", "decode tokens/s")):
        values = [[a[key] for p in prompts if (a := p["answers"][i])[key] is not None] for i in range(len(sides))]
        ax.boxplot([v or [0] for v in values], tick_labels=labels)
        for i, v in enumerate(values, 1):
            ax.plot([i] * len(v), v, "o", alpha=0.5, markersize=4)
        ax.set(title=f"{title} per prompt, {rep['timing']}", ylim=(0, None))
    fig.savefig(paths[1], dpi=100)

    fig = Figure(figsize=(8, 0.8 + 0.32 * max(1, len(prompts) * len(others))), layout="constrained")
    ax = fig.add_subplot()
    rows = [(f"{p['id']} ({g['label']})", g) for p in prompts for g in p["agreement"]]
    y = range(len(rows))
    ax.barh(y, [g["tokens_compared"] for _, g in rows], color="#c8d8ee", label="tokens compared")
    ax.barh(y, [g["common_prefix_tokens"] for _, g in rows], color="#3a78c2", label="common prefix")
    hits = [(i, g["first_divergence"]) for i, (_, g) in enumerate(rows) if g["first_divergence"] is not None]
    ax.plot(
        [x for _, x in hits], [i for i, _ in hits], "|", color="red", markersize=14, mew=2, label="first divergence"
    )
    ax.set_yticks(list(y), [name for name, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="token position", title=f"Where each answer departs from {rep['reference']}")
    if rows:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.savefig(paths[2], dpi=100)
    return paths


def write(rep: dict[str, Any], folder: Path) -> list[Path]:
    """``report.json``, ``report.md``, the plots and the evidence card (``card.md``, a self-contained
    ``card.html``) in ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / "report.md").write_text(markdown(rep), encoding="utf-8")
    return [folder / "report.json", folder / "report.md", *plot(rep, folder), *write_card(rep, folder)]
