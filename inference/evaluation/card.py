"""The evidence card: one page a stakeholder reads in two minutes, from a report's ``evidence``.

Contract: ``evidence_markdown(rep)`` is the evidence as Markdown tables (paired quality against
the noise floor, worst prompts first, speed against the ceiling, reasoning length); the report's
own ``report.md`` includes it. ``card_markdown(rep)`` is the card: a verdict sentence with its
intervals, those tables, standard tasks where the report has them, and the setup (hardware,
software versions, settings, the prompt set and its SHA-256). ``plot_evidence(rep, folder)``
draws ``worst.png`` (per-position KL of the worst prompts, a heat map) and ``ceiling.png``
(bytes per decode step per side, ideal and measured speed-up) with matplotlib's object API.
``write_card(rep, folder)`` writes those plots, ``card.md`` and ``card.html``;
``card_html(markdown, folder)`` renders the Markdown to one self-contained HTML page (markdown-it,
the images it names in ``folder`` embedded as data URIs, no outside requests). Every number on
the card is formatted from ``report.json``'s ``evidence``; nothing is computed here.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

EVIDENCE_PLOTS = ("worst.png", "ceiling.png")
KL = "{:.3g}"  # KL divergences span orders of magnitude: significant digits, not decimals
KL_NOTE = (
    "KL divergence KL(reference ‖ side) per token of the reference's answer, both engines scoring the same "
    "tokens (teacher-forced), from each engine's top-{k} log-probabilities: the tokens both report are exact, "
    "the rest is pooled into one bucket, so it is a lower bound of the full-vocabulary KL (tail mass: the "
    "reference's probability in that bucket). Intervals: 95 % bootstrap over prompts (seed 0)."
)


def _n(x: float | None, fmt: str = "{:.4f}") -> str:
    return "–" if x is None else fmt.format(x)


def _ci(rep_part: dict[str, Any], key: str, fmt: str = "{:.4f}", scale: float = 1) -> str:
    """``value [lo–hi]`` of one figure with its bootstrap interval."""
    value, ci = rep_part.get(key), (rep_part.get("ci") or {}).get(key)
    if value is None:
        return "–"
    out = fmt.format(value * scale)
    return out + (f" [{fmt.format(ci[0] * scale)}–{fmt.format(ci[1] * scale)}]" if ci else "")


def _pct(x: float | None) -> str:
    return _n(x, "{:.1%}")


QUALITY_ROWS = (  # (row, key, format, scale)
    ("reference accuracy", "ref_accuracy", "{:.1f} %", 100),
    ("side accuracy", "side_accuracy", "{:.1f} %", 100),
    ("recovery (side ÷ reference)", "recovery", "{:.1f} %", 1),
    ("teacher-forced top-1 agreement", "top1_agreement", "{:.2f} %", 100),
    ("KL mean (nats/token)", "kl_mean", KL, 1),
    ("KL p50", "kl_p50", KL, 1),
    ("KL p90", "kl_p90", KL, 1),
    ("KL p99", "kl_p99", KL, 1),
    ("KL max", "kl_max", KL, 1),
)


def _flips(part: dict[str, Any]) -> str:
    return f"{part['flips_lost']} lost, {part['flips_gained']} gained (exact p = {part['flips_p_value']:.3g})"


def _quality(ev: dict[str, Any]) -> list[str]:
    noise = ev["noise_floor"]
    lines = []
    for side in ev["sides"]:
        head = f"| figure | {side['label']} vs {side['against']} |"
        head += f" noise floor: {noise['label']} vs {noise['against']} |" if noise else ""
        lines += ["", head, "|---|---|" + ("---|" if noise else "")]
        for name, key, fmt, scale in QUALITY_ROWS:
            lines.append(
                f"| {name} | {_ci(side, key, fmt, scale)} |" + (f" {_ci(noise, key, fmt, scale)} |" if noise else "")
            )
        flips = f"| flips (of {side['checked']} checked) | {_flips(side)} |"
        lines.append(flips + (f" {_flips(noise)} |" if noise else ""))
        lines.append(
            f"| tail mass outside the known tokens | {_pct(side['tail_mass_mean'])} |"
            + (f" {_pct(noise['tail_mass_mean'])} |" if noise else "")
        )
        lines.append(
            f"| smallest detectable: accuracy gap / mean KL shift | {_pct(side['min_detectable_accuracy_gap'])} / "
            f"{_n(side['mde_kl_mean'], KL)} |" + (f" – / {_n(noise['mde_kl_mean'], KL)} |" if noise else "")
        )
        if noise:
            times = side["kl_mean_over_noise"]
            said = f"{times:g}× the noise floor's" if times is not None else "the noise floor's is exactly 0"
            lines += [
                "",
                f"Mean KL of {side['label']}: {said} ({noise['change']}: {noise['exact_matches']} of "
                f"{noise['controls']} answers identical, token agreement {_pct(noise['mean_token_agreement'])}).",
            ]
    return [*lines, "", KL_NOTE.format(k=ev["sides"][0]["top_k"] if ev["sides"] else "k")]


def _standard(rep: dict[str, Any]) -> list[str]:
    """Standard tasks (lmms-eval, ``inference.evaluation.lmms``): accuracy, recovery and flips per task."""
    tasks = rep.get("standard_tasks")
    if not tasks:
        return ["## Standard tasks", "", "Not run for this report (lmms-eval: see docs/evaluation.md)."]
    lines = [
        "## Standard tasks (lmms-eval)",
        "",
        f"At most {tasks['limit']} samples per task, the same on every side.",
        "",
    ]
    lines += [
        "| task | side | samples | reference accuracy | side accuracy | recovery | flips |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tasks["results"]:
        lines.append(
            f"| {t['task']} | {t['label']} vs {t['against']} | {t['samples']} | {_pct(t['ref_accuracy'])} "
            f"| {_ci(t, 'side_accuracy', '{:.1f} %', 100)} | {_ci(t, 'recovery', '{:.1f} %')} | {_flips(t)} |"
        )
    return lines


def evidence_markdown(rep: dict[str, Any], images: bool = True) -> str:
    """Quality against the noise floor, the worst prompts, speed against the ceiling, reasoning;
    ``images``: with the links to ``worst.png`` and ``ceiling.png``."""
    ev = rep["evidence"]
    lines = ["## Quality, paired (95 % intervals)", *_quality(ev)]
    lines += ["", "## Worst prompts first", "", "| prompt | side | flip | mean KL | max KL |", "|---|---|---|---|---|"]
    for w in ev["worst"]:
        lines.append(
            f"| {w['id']} | {w['label']} | {w['flip'] or '–'} | {_n(w['kl_mean'], KL)} | {_n(w['kl_max'], KL)} |"
        )
    lines += ["", "![worst](worst.png)"] if images else []
    lines += ["", "## Speed each alone, and the ceiling", ""]
    lines += [
        "| side | median decode tok/s alone | measured speed-up | ideal batch-1 ceiling | bytes per decode step |"
        " weights | FP8 share of the language model |",
        "|---|---|---|---|---|---|---|",
    ]
    sides = {s["label"]: s for s in rep["summary"]["sides"]}
    for c in ev["ceiling"]:
        m = c["map"] or {}
        lines.append(
            f"| {c['label']} | {_n(sides[c['label']]['median_decode_tokens_per_s'], '{:.1f}')} "
            f"| {_n(c['measured_speedup'], '{:.2f}×')} | {_n(c['ideal_speedup'], '{:.2f}×')} "
            f"| {_n(m.get('decode_step_bytes'), '{:,}')} | {_n(m.get('weight_bytes'), '{:,}')} "
            f"| {_pct(m.get('fp8_share_of_language_model'))} |"
        )
    lines += [
        "",
        "The ceiling: at batch 1 decoding reads every language-model weight once per token, so a side can"
        " be at most (reference bytes ÷ its bytes) faster; modules kept in BF16 (lm_head, vision, Gated "
        "DeltaNet) bound it below 2×.",
    ]
    lines += ["", "![ceiling](ceiling.png)"] if images else []
    lines += ["", *_standard(rep)]
    if rep["settings"]["enable_thinking"]:
        lines += [
            "",
            "## Reasoning length (thinking on)",
            "",
            "| side | answers | reasoning closed | median tokens | median s to the final answer |",
            "|---|---|---|---|---|",
        ]
        for r in ev["reasoning"]:
            lines.append(
                f"| {r['label']} | {r['answers']} | {r['closed']} | {_n(r['median_tokens'], '{:g}')} "
                f"| {_n(r['median_seconds_to_answer'], '{:.2f}')} |"
            )
        for side in ev["sides"]:
            lines.append(
                f"\n{side['label']} reasons {_ci(side, 'reasoning_tokens_diff', '{:+.1f}')} tokens more "
                f"than {side['against']} per prompt (mean of the paired differences)."
            )
    return "\n".join(lines) + "\n"


def _verdict(rep: dict[str, Any]) -> str:
    ev = rep["evidence"]
    said = []
    for s in ev["sides"]:
        one = f"On {s['prompts']} prompts, {s['label']} against {s['against']}:"
        if s["checked"] and s["recovery"] is not None:
            one += f" recovery {_ci(s, 'recovery', '{:.1f}')} % of the reference's accuracy ({s['checked']} checked),"
        elif s["checked"]:
            one += f" accuracy {_pct(s['side_accuracy'])} against {_pct(s['ref_accuracy'])} ({s['checked']} checked),"
        if s["checked"]:
            one += f" {s['flips_lost']} flips lost and {s['flips_gained']} gained (exact p = {s['flips_p_value']:.3g});"
        one += f" teacher-forced top-1 agreement {_ci(s, 'top1_agreement', '{:.2f}', 100)} %,"
        one += f" mean KL {_ci(s, 'kl_mean', KL)} nats/token"
        if ev["noise_floor"]:
            times = s["kl_mean_over_noise"]
            one += f" ({times:g}× the noise floor)" if times is not None else " (the noise floor is exactly 0)"
        said.append(one + ".")
    return " ".join(said)


def card_markdown(rep: dict[str, Any]) -> str:
    ev, st = rep["evidence"], rep["settings"]
    lines = ["# Evidence card: FP8 against BF16", ""]
    if any(s["tiny_random_checkpoint"] for s in rep["sides"]):
        lines += ["> ⚠️ Tiny random checkpoints: every figure below is noise; the card shows the pipeline works.", ""]
    lines += [f"**Verdict.** {_verdict(rep)}", "", evidence_markdown(rep)]
    env = ev["environment"]
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    sides = "; ".join(f"{s['label']}: {s['model']}" + (" (reference)" if s["reference"] else "") for s in rep["sides"])
    lines += [
        "",
        "## Setup",
        "",
        f"- Sides: {sides}.",
        f"- Hardware: {env['gpu'] or 'no GPU'}; CPU {env['cpu']} ({env['cpus']} cores). Software: Python "
        f"{env['python']}, {packages}.",
        f"- Prompt set: {rep['source']}, {ev['prompt_set']['prompts']} prompts, "
        f"SHA-256 `{ev['prompt_set']['sha256']}`.",
        f"- Settings: temperature {st['temperature']}, seed {st['seed']}, at most {st['max_tokens']} new tokens, "
        f"thinking {'on' if st['enable_thinking'] else 'off'}; speed timed {rep['timing']}. "
        f"Created {rep['created_at']}.",
    ]
    return "\n".join(lines) + "\n"


def plot_evidence(rep: dict[str, Any], folder: Path) -> list[Path]:
    """``worst.png`` and ``ceiling.png`` in ``folder``."""
    from matplotlib.figure import Figure

    ev, paths = rep["evidence"], [folder / name for name in EVIDENCE_PLOTS]
    rows = {(p["id"], r["label"]): r["kl"] for p in rep["prompts"] for r in p.get("paired", [])}
    worst = [(f"{w['id']} ({w['label']})", rows.get((w["id"], w["label"])) or [0.0]) for w in ev["worst"]]
    fig = Figure(figsize=(8, 0.9 + 0.35 * max(1, len(worst))), layout="constrained")
    ax = fig.add_subplot()
    width = max((len(k) for _, k in worst), default=1)
    grid = [[k if k is not None else 0.0 for k in kl] + [float("nan")] * (width - len(kl)) for _, kl in worst] or [
        [0.0]
    ]
    image = ax.imshow(grid, aspect="auto", cmap="magma_r", interpolation="nearest", vmin=0)
    ax.set_yticks(range(len(worst)), [name for name, _ in worst], fontsize=8)
    ax.set(xlabel="token of the reference's answer", title="Worst prompts first: KL per token (nats)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.savefig(paths[0], dpi=100)

    fig = Figure(figsize=(8, 3), layout="constrained")
    bytes_ax, speed_ax = fig.subplots(1, 2)
    labels = [c["label"] for c in ev["ceiling"]]
    step = [(c["map"] or {}).get("decode_step_bytes") or 0 for c in ev["ceiling"]]
    bytes_ax.bar(labels, [b / 2**20 for b in step], color="#3a78c2")
    bytes_ax.set(title="Bytes read per decode step", ylabel="MiB")
    x = range(len(labels))
    speed_ax.bar([i - 0.2 for i in x], [c["ideal_speedup"] or 0 for c in ev["ceiling"]], 0.4, label="ideal ceiling")
    speed_ax.bar([i + 0.2 for i in x], [c["measured_speedup"] or 0 for c in ev["ceiling"]], 0.4, label="measured alone")
    speed_ax.axhline(1.0, color="grey", linewidth=0.8)
    speed_ax.set_xticks(list(x), labels)
    speed_ax.set(title="Decode speed-up at batch 1")
    speed_ax.legend(fontsize=8)
    fig.savefig(paths[1], dpi=100)
    return paths


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2433;"
    "line-height:1.45}table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}"
    "th,td{border:1px solid #ccd3de;padding:.25rem .5rem;text-align:left}th{background:#eef2f8}"
    "img{max-width:100%}blockquote{background:#fff4d6;border-left:4px solid #e0a800;margin:0;padding:.4rem .8rem}"
    "code{font-size:.85rem;word-break:break-all}"
)


def write_card(rep: dict[str, Any], folder: Path) -> list[Path]:
    """``worst.png``, ``ceiling.png``, ``card.md`` and ``card.html`` in ``folder`` (from a report, or
    ``json.loads`` of a ``report.json`` written earlier); their paths."""
    plots = plot_evidence(rep, folder)
    card = card_markdown(rep)
    (folder / "card.md").write_text(card, encoding="utf-8")
    (folder / "card.html").write_text(card_html(card, folder), encoding="utf-8")
    return [*plots, folder / "card.md", folder / "card.html"]


def card_html(markdown: str, folder: Path) -> str:
    """The card as one HTML page; the PNGs it names in ``folder`` embedded as data URIs."""
    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark").enable("table").render(markdown)
    except ImportError:  # markdown-it comes with gradio (rich); without it, the text as it is
        body = f"<pre>{html.escape(markdown)}</pre>"

    def inline(match: re.Match[str]) -> str:
        path = folder / match.group(1)
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([\w.-]+\.png)"', inline, body)
    title = "Evidence card: FP8 against BF16"
    head = f"<meta charset='utf-8'><title>{title}</title><style>{STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>\n"
