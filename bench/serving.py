"""Serving figures in vLLM's benchmark conventions, for ``make gpu-check``: one engine alone.

Contract: ``await measure_side(engine, image_turn, out_tokens, repeats, concurrencies)`` gives a
``Serving`` for one started engine with nothing else running: TTFT p50/p95 over ``repeats`` runs
of a ~128-token text prompt and of an image prompt (``vllm bench serve``'s "TTFT"); at
concurrency 1 with 128 in / ``out_tokens`` out, ITL p50 (time between streamed tokens, per token)
and the decode rate; output tokens per second at each concurrency (``c`` identical-length
requests at once: their output tokens over the wall time, "Output token throughput"). Greedy,
``ignore_eos``: every answer has ``out_tokens`` tokens. ``table(rows)`` renders them, with the
FP8 linear kernel vLLM selected (``Footprint.kernel``, read from the engine, where the engine
gives it) next to the scheme.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from inference.compare.metrics import SideMetrics
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn, prepare

PROMPT_TOKENS = 128  # vllm bench's random dataset default input length
SENTENCE = "The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly. "


@dataclass(frozen=True)
class Serving:
    ttft_text: tuple[float, float]  # p50, p95 (s)
    ttft_image: tuple[float, float]
    prompt_tokens: int  # the text prompt's tokens, chat template included
    itl_p50: float | None  # s per token at concurrency 1
    decode_rate: float | None  # tokens/s at concurrency 1, prefill excluded
    output_rate: dict[int, float]  # concurrency -> output tokens/s


def text_prompt(engine, settings: GenerationSettings) -> Prepared:
    """A text turn of about ``PROMPT_TOKENS`` tokens as this engine counts them (template included)."""
    words = SENTENCE.split()
    n = len(words)
    while True:
        prepared = prepare([UserTurn(" ".join(words[i % len(words)] for i in range(n)))])
        if engine.prompt_tokens(prepared, [], settings) >= PROMPT_TOKENS:
            return prepared
        n += 4


async def _answer(engine, prepared: Prepared, settings: GenerationSettings) -> SideMetrics:
    loop = asyncio.get_running_loop()
    m = SideMetrics(started=loop.time())
    async for chunk in engine.stream(prepared, [], settings):
        m.add(chunk, loop.time())
    m.finish(loop.time())
    return m


def p50_p95(values: list[float]) -> tuple[float, float]:
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]


def itl(m: SideMetrics) -> list[float]:
    """Seconds per token between successive streamed chunks (a chunk of k tokens counts k times)."""
    out = []
    for (t0, n0), (t1, n1) in zip(m.series, m.series[1:], strict=False):
        out += [(t1 - t0) / (n1 - n0)] * (n1 - n0)
    return out


async def measure_side(
    engine, image_turn: Prepared, out_tokens: int, repeats: int, concurrencies: tuple[int, ...]
) -> Serving:
    one = GenerationSettings(max_tokens=1, ignore_eos=True)
    text = text_prompt(engine, one)
    ttft = {}
    for name, prepared in (("text", text), ("image", image_turn)):
        ttft[name] = p50_p95([(await _answer(engine, prepared, one)).ttft for _ in range(repeats)])
    long = GenerationSettings(max_tokens=out_tokens, ignore_eos=True)
    alone = await _answer(engine, text, long)
    gaps = itl(alone)
    rates = {}
    for c in concurrencies:
        t0 = time.perf_counter()
        done = await asyncio.gather(*(_answer(engine, text, long) for _ in range(c)))
        rates[c] = sum(m.tokens for m in done) / (time.perf_counter() - t0)
    return Serving(
        ttft["text"],
        ttft["image"],
        engine.prompt_tokens(text, [], one),
        statistics.median(gaps) if gaps else None,
        alone.decode_rate,
        rates,
    )


def _ms(s: float | None) -> str:
    return "–" if s is None else f"{s * 1000:.1f} ms"


def table(rows: list[tuple[str, object, Serving]], out_tokens: int) -> list[str]:
    """Markdown lines: per side (label, footprint, figures) the kernel and the serving figures."""
    concurrencies = sorted({c for _, _, s in rows for c in s.output_rate})
    head = ["side", "scheme", "linear kernel", "prompt", "TTFT text p50 / p95", "TTFT image p50 / p95"]
    head += ["ITL p50", "decode tok/s", *(f"output tok/s c={c}" for c in concurrencies)]
    lines = [
        f"Each side alone, vLLM benchmark conventions: greedy, {out_tokens} tokens out at concurrency 1 and "
        f"at each c (c requests at once); TTFT over repeated 1-token answers.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for label, footprint, s in rows:
        scheme = getattr(footprint, "scheme", None)
        kernel = getattr(footprint, "kernel", None) or ("not reported by this engine" if scheme else "–")
        cells = [label, scheme or "unquantized", kernel, f"{s.prompt_tokens} tokens"]
        cells += [f"{_ms(s.ttft_text[0])} / {_ms(s.ttft_text[1])}", f"{_ms(s.ttft_image[0])} / {_ms(s.ttft_image[1])}"]
        cells += [_ms(s.itl_p50), "–" if s.decode_rate is None else f"{s.decode_rate:.1f}"]
        cells += [f"{s.output_rate[c]:.1f}" for c in concurrencies]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
