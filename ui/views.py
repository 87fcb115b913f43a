"""What the page shows, as plain values: chat panes, the figures under them, divergence marks, the plot.

Contract: pure functions of a conversation (``inference.compare.transcript``); no Gradio, no engine
(a side's ``decode`` is passed in). ``render`` gives one side's chat pane as role/content
messages, ``describe`` the metrics lines under it, ``marks`` its latest answer with the first
diverging token marked ``DIVERGES``, ``plot`` the tokens-over-time table of every side, ``cost``
the input preview's token summary, ``status_line`` the engines' start-up status, ``heat`` a
side's latest answer shaded token by token by its cross-score Δ (HTML whose text is escaped),
and ``verdict_text`` the verdict above the panes (``inference.compare.verdict``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from inference.compare.cross import less_likely
from inference.compare.transcript import Exchange
from inference.compare.verdict import Verdict

Link = Callable[[str], Any]  # a user file's path -> its content in a pane (``ui.links``)

STOPPED = "⏹ *stopped*"
EMPTY = "*(no text: the model ended its answer at once)*"
REASONING = "🧠 Reasoning"
DIVERGES = "first divergence"
# per side, at most: the browser copies the plot's rows on every render of any output (Gradio's
# loading status snapshots each output's value), so 200 a side cost ~0.3 of a core while streaming
PLOT_POINTS = 50
HEAT_TOKENS = 1024  # tokens shaded in a heat map, at most
HEAT_FLOOR = 0.01  # nats: the full shade goes to the answer's largest |Δ|, but never to less than this
RACE = "race: both sides at once, sharing the hardware"
ALONE = "timed each alone"


def by_path(path: str) -> dict[str, str]:
    """A user file's content in a pane by its path, which Gradio resolves itself."""
    return {"path": path}


def budget_note(ex: Exchange, side: int) -> str:
    """Users hit this: every new token spent thinking, and no reply."""
    a, parts = ex.answers[side], ex.split(side)
    if a.done and a.finish_reason == "length" and not parts.closed:
        return (
            f"⚠️ All {a.metrics.tokens} new tokens went to reasoning; there is no reply yet. "
            "Raise *Max new tokens* or turn *Thinking* off (Settings)."
        )
    return ""


def render(conversation: list[Exchange], side: int, link: Link = by_path) -> list[dict[str, Any]]:
    """The chat pane of one side: user files (``link`` gives each file's content) and text, then
    that side's reasoning and reply."""
    messages: list[dict[str, Any]] = []
    for ex in conversation:
        messages += [{"role": "user", "content": link(f)} for f in ex.turn.files]
        if ex.turn.text:
            messages.append({"role": "user", "content": ex.turn.text})
        a, parts = ex.answers[side], ex.split(side)
        if parts.reasoning or not parts.closed:
            status = "done" if parts.closed or a.done else "pending"
            meta = {"title": REASONING, "status": status}
            messages.append({"role": "assistant", "content": parts.reasoning or "…", "metadata": meta})
        body = "\n\n".join(p for p in (parts.reply, a.note, budget_note(ex, side)) if p)
        if not body and (parts.closed or a.done):
            body = EMPTY if a.done else "…"
        if body:
            messages.append({"role": "assistant", "content": body})
    return messages


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else str(n)


def describe(
    ex: Exchange | None,
    side: int,
    reference: int,
    labels: list[str],
    footprint: Any = None,
    caveat: str = "",
    reference_bytes: int | None = None,
) -> str:
    """The figures under a pane, for the latest turn: speed (with ``caveat``, what it does not say,
    right after it: ``inference.compare.caveats``), prompt and memory (the weights against the
    reference's ``reference_bytes``), divergence."""
    if ex is None:
        return ""
    a = ex.answers[side]
    m = a.metrics
    speed = []
    never = a.done and not m.tokens and m.ttft is None  # stopped (or failed) before its first token
    if m.ttft is not None:
        speed.append(f"TTFT {m.ttft * 1000:.0f} ms")
    if m.decode_rate is not None:
        speed.append(f"{m.decode_rate:.1f} tok/s")
    speed.append(f"{m.tokens} tokens" + ("" if a.done else "…"))
    if never:
        speed[-1] = "no tokens: ended before its first token"
    elif m.total is not None:
        speed.append(f"{m.total:.2f} s")
    alone = ex.settings.timing == "alone"
    if alone and not m.tokens and not a.done and not all(b.done for b in ex.answers[:side]):
        speed = ["waiting for its turn (one side after the other)"]
    speed.insert(0, ALONE if alone else RACE)  # first: the numbers after it are read in its light
    size = []
    if m.prompt_tokens is not None:
        size.append(f"prompt {m.prompt_tokens} tokens ({m.visual_tokens} visual, {m.text_tokens} text)")
    if footprint is not None and footprint.weight_bytes:
        scheme = f" ({footprint.scheme})" if getattr(footprint, "scheme", None) else ""
        ratio = ""
        if reference_bytes and side != reference:
            ratio = f", {footprint.weight_bytes / reference_bytes:.2f}× {labels[reference]}'s"
        size.append(f"weights {_size(footprint.weight_bytes)}{scheme}{ratio}")
    if footprint is not None and footprint.kv_tokens:
        peak = "" if m.kv_peak is None else f", peak use {m.kv_peak:.2%}"
        size.append(f"KV cache {_count(footprint.kv_tokens)} tokens{peak}")
    lines = [" · ".join(speed), f"⚠️ *{caveat}*" if caveat else "", " · ".join(size)]
    d = ex.divergence(side, reference)
    if d is not None:
        ref = labels[reference]
        if d.first is None:
            complete = a.finish_reason and ex.answers[reference].finish_reason  # both ended by the model
            state = "identical" if complete else "identical so far"
            parts = [f"vs {ref}: {state} ({d.common} tokens)"]
        else:
            parts = [f"vs {ref}: first divergence at token {d.first + 1}"]
        if d.identical is not None and d.first is not None:
            parts.append(f"{d.identical:.0%} identical tokens")
        if d.logprob_gap is not None:
            parts.append(f"mean |Δ logprob| {d.logprob_gap:.3f} over {d.common} common tokens")
        lines.append(" · ".join(parts))
    elif side == reference and len(labels) > 1:
        lines.append("reference for the divergence figures")
    return "  \n".join(line for line in lines if line)


def marks(
    ex: Exchange | None, side: int, reference: int, decode: Callable[[Sequence[int]], str]
) -> list[tuple[str, str | None]]:
    """The latest answer of one side, its first diverging token marked (against the reference; the
    reference's own answer at the earliest point any side departs from it). ``decode``: that side's
    token ids to text."""
    if ex is None:
        return []
    a = ex.answers[side]
    sides = range(len(ex.answers))
    others = [ex.divergence(i, reference) for i in sides] if side == reference else []
    d = ex.divergence(side, reference)
    firsts = [x.first for x in ([d] if d else others) if x is not None and x.first is not None]
    if not firsts or not a.token_ids:
        return [(a.text, None)] if a.text else []
    first = min(firsts)
    text = decode(a.token_ids)
    head = len(decode(a.token_ids[:first]))
    end = max(len(decode(a.token_ids[: first + 1])), head)
    pieces = [(text[:head], None), (text[head:end] or "⟨end⟩", DIVERGES), (text[end:], None)]
    return [(t, label) for t, label in pieces if t]


def plot(ex: Exchange | None, labels: Sequence[str], tags: Sequence[str] = ()) -> pd.DataFrame:
    """Tokens over time of every side's latest answer, at most ``PLOT_POINTS`` per side; a side's
    ``tags`` (``caveats.speed_tag``: what its speed does not say) follow its label in the legend."""
    if tags:
        labels = [f"{label} ({tag})" if tag else label for label, tag in zip(labels, tags, strict=True)]
    rows = []
    if ex is not None:
        for label, a in zip(labels, ex.answers, strict=True):
            series = [(0.0, 0), *a.metrics.series]
            step = max(1, len(series) // PLOT_POINTS)
            picked = series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
            rows += [{"seconds": round(t, 3), "tokens": n, "side": label} for t, n in picked]
    return pd.DataFrame(rows, columns=["seconds", "tokens", "side"])


def ceiling(top: float) -> float:
    """A round y-axis ceiling strictly above ``top`` (16 → 20, 256 → 300, 8 → 10): the plot's axis would
    otherwise stop at its last tick (15 while both lines reach 16). The step is 1, 2 or 5 times a power
    of ten (whole tokens: at least 1), the smallest that fits ``top`` in at most five steps."""
    if top <= 0:
        return 1.0
    scale = 10 ** max(0, math.floor(math.log10(top)) - 1)
    step = next(s * scale for s in (1, 2, 5, 10, 20, 50) if top / (s * scale) <= 5)
    return float((math.floor(top / step) + 1) * step)


def y_range(frame: pd.DataFrame) -> tuple[float, float]:
    """The plot's y-axis: from 0 to ``ceiling`` of its most tokens."""
    return 0.0, ceiling(float(frame["tokens"].max()) if len(frame) else 0.0)


def cost(plans: Sequence[Any], total: int, max_tokens: int, context: int | None) -> str:
    """The preview's summary: each file's visual tokens (``plans``: ``FilePlan``), the whole
    conversation's (``total``, as it would be sent) and, with new tokens, against the context: this
    turn's files that cannot fit are said, and so is a conversation whose oldest turns will be left out."""
    lines = [f"**{fp.name}**: {fp.plan.tokens} visual tokens" for fp in plans]
    summary = f"{' · '.join(lines)}  \nConversation: {total} visual tokens"
    if context:
        summary += f" + up to {max_tokens} new tokens, of a {context}-token context"
        if sum(fp.plan.tokens for fp in plans) + max_tokens > context:
            summary += " — ⚠️ **does not fit**: lower the budgets or max new tokens (Settings)."
        elif total + max_tokens > context:
            summary += " — the oldest turns will be left out of the prompt to fit."
    return summary


def status_line(status: Any, notes: Mapping[int, str]) -> str:
    """The status line: start-up progress or readiness (an ``inference.engines.pool`` status), then what
    is wrong with any engine now (``notes``, by engine)."""
    if status.error:
        text = f"❌ **{status.message}** {status.error}"
    elif status.ready:
        text = f"✅ {status.message}"
    else:
        text = f"⏳ {status.message} The input unlocks when every engine is ready."
    return "  \n".join([text, *(f"⚠️ {note}" for _, note in sorted(notes.items()))])


def _shade(delta: float, full: float) -> str:
    """Red where the other model finds the token less likely, blue where more; stronger with |Δ|, full at ``full``."""
    alpha = min(1.0, abs(delta) / full) * 0.85
    rgb = "220, 38, 38" if delta > 0 else "37, 99, 235"
    return f"background: rgba({rgb}, {alpha:.2f})"


def heat(
    ex: Exchange | None, side: int, reference: int, labels: Sequence[str], decode: Callable[[Sequence[int]], str]
) -> str:
    """The side's latest answer, each token shaded by Δ (how much less likely the reference's model
    finds it than the side's own), its Δ on hover; the mean above. ``decode``: the side's token ids
    to text. Empty before the answers are scored; the reason when they were not."""
    if ex is None:
        return ""
    c = ex.cross.get(side)
    if c is None or c.mean is None:
        return f"<p class='heat-note'>{html.escape(ex.cross_note)}</p>" if ex.done and ex.cross_note else ""
    me, ref = html.escape(labels[side]), html.escape(labels[reference])
    full = max(HEAT_FLOOR, *map(abs, c.deltas))  # the answer's own range: where the models part most
    spans = []
    for token, delta in list(zip(c.token_ids, c.deltas, strict=True))[:HEAT_TOKENS]:
        title = f"Δ {delta:+.3f}: {ref} finds this token {less_likely(delta)} than {me}"
        text = html.escape(decode([token]) or "␣").replace("\n", "↵<br>")
        spans.append(
            f"<span class='heat-token' title='{html.escape(title)}' style='{_shade(delta, full)}'>{text}</span>"
        )
    more = f" (first {HEAT_TOKENS} of {len(c.deltas)} tokens shaded)" if len(c.deltas) > HEAT_TOKENS else ""
    if len(c.deltas) < c.answer_tokens:
        more += (
            f" (scored up to token {len(c.deltas)} of {c.answer_tokens}: the model wrote an image/video "
            "placeholder token next, which a prompt cannot hold without its picture)"
        )
    mean = (
        f"<p class='heat-mean'><b>{me}'s answer scored by {ref}</b>: mean Δ log-prob <b>{c.mean:+.3f}</b> "
        f"({ref} finds its tokens {less_likely(c.mean)} per token; 0: the same model; "
        f"full shade at |Δ| {full:.3f}){more}"
    )
    if c.reverse_mean is not None:
        mean += f"; the other way, {ref}'s answer scored by {me}: {c.reverse_mean:+.3f}"
    return f"{mean}.</p><div class='heat-map'>{''.join(spans)}</div>"


def verdict_text(v: Verdict) -> str:
    """The verdict above the panes: the latest turn, then the session so far."""
    if not v.latest:
        return ""
    text = "**Verdict, latest turn:** " + " ".join(v.latest)
    if v.session:
        text += "  \n**So far:** " + " ".join(v.session)
    return text
