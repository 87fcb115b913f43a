"""Batch evaluation: a prompt set through every side with identical greedy settings, then a report.

Contract: the prompt set comes from ``inference.evaluation.prompts.load_prompts`` (JSONL, media
beside it or in a zip). ``run(engines, prompts, settings, ...)`` is an async iterator of
``Outcome``s, one per prompt in order: each prompt is prepared once
(``inference.inputs.chat.prepare``, off the event loop), then each side answers it *alone*, one
side after the other (``TIMING``; the first side rotates from prompt to prompt), so every TTFT
and decode rate is measured with no other side of the run on the hardware. Greedy answers on
separate engines do not depend on what the other engine is doing, so the agreement figures are
those a race would give, and one such pass costs less than a race plus a timing pass. An
outcome names the sides whose answer saw another request in some engine (a chat turn in the
app) while it was timed. Once every side has answered, each answer is cross-scored under the
reference side's engine and the reference's under each other side's (``inference.compare.cross``:
teacher-forced log-probabilities; ``score_turn`` keeps them on the exchange or says why not, e.g. a
backend that cannot score). A prompt whose media are refused becomes an outcome with its error and
the run goes on; cancelling the consumer aborts the request in flight.
``inference.evaluation.report`` turns the outcomes into ``report.json``, ``report.md`` and
plots. The command line (its own, separate from the app's):

    python -m inference.evaluation --builtin --out DIR            # the built-in set (inference.inputs.samples)
    python -m inference.evaluation --prompts set.jsonl --media media.zip --out DIR   # your set, media in a zip
    python -m inference.evaluation --prompts set.jsonl --out DIR --model FP8=/ckpt/a --model BF16=/ckpt/b

The sides are the app's own: the same ``models`` options (``--device``, ``--model``, ``--backend``,
``--api-key-env``, …, and their ``DEMO_*`` variables, added from the app's schema by
``inference.deploy.command_line.add_concern``) resolved by ``inference.deploy.sides.resolve_specs``.
A ``--model`` may be a server's URL (``BF16=http://gpu-box:8000/v1``); without ``--model`` it runs
the app's default pair: the 9B FP8/BF16 models on a CUDA GPU, the tiny CPU pair otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.compare.merge import stream_sides
from inference.compare.metrics import SideMetrics
from inference.compare.reasoning import CLOSE
from inference.compare.scores import TokenScore
from inference.compare.transcript import Answer, Exchange
from inference.deploy.command_line import add_concern, concern_from
from inference.engines.base import Backend
from inference.engines.pool import EnginePool
from inference.engines.scoring import scorable, score_turn
from inference.errors import DemoError
from inference.evaluation.prompts import Prompt, load_prompts
from inference.inputs.chat import GenerationSettings, Prepared, UserTurn, prepare
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget

TIMING = "each alone"  # how the speed figures were measured (the report says so)
TOP = 20  # most likely tokens kept per scored position (vLLM's default ceiling, max_logprobs)


@dataclass(frozen=True)
class Reasoning:
    """With thinking on: when one side's reasoning ended (``</think>`` arrived); ``None``: it did not."""

    tokens: int  # tokens generated up to and including the end of the reasoning, or all of them
    seconds: float | None  # from the request to the end of the reasoning


@dataclass
class Control:
    """The noise floor for one prompt: the reference side answering again with another request
    beside it in its engine (a different batch), and its first answer's tokens scored alone
    (``alone``) and again in a batch with another scoring request (``batched``); ``error``: why not."""

    answer: Answer
    alone: tuple[TokenScore, ...] = ()
    batched: tuple[TokenScore, ...] = ()
    error: str = ""


@dataclass
class Outcome:
    """One prompt's answers on every side (``exchange``), or why it could not be sent (``error``);
    ``shared``: the sides whose timing saw another request in some engine (a chat turn beside it);
    ``reasoning``: per side, when thinking is on; ``control``: the noise floor, when asked for."""

    prompt: Prompt
    exchange: Exchange | None
    error: str = ""
    shared: tuple[int, ...] = ()
    reasoning: tuple[Reasoning | None, ...] = ()
    control: Control | None = None


def order(prompt_index: int, sides: int) -> list[int]:
    """Which side answers first, second, ... for a prompt: rotated per prompt, so no side is
    always first (nor always right after another's answer)."""
    return [(prompt_index + k) % sides for k in range(sides)]


async def _alone(
    engines: Sequence[Backend],
    side: int,
    prepared: Prepared,
    settings: GenerationSettings,
    answer: Answer,
    stall: float | None,
) -> tuple[bool, Reasoning | None]:
    """``side`` answers while no other side of the run is asked anything; whether another request
    was seen in any engine meanwhile (sampled at each chunk and at the end: a chat turn beside it),
    and with thinking on when its reasoning ended."""
    engine, shared, reasoned = engines[side], False, None
    answer.metrics = SideMetrics(time.monotonic())  # the clock starts at this side's request
    merged = stream_sides([engine.stream(prepared, [], settings)], stall)
    try:
        async for event in merged:
            now = time.monotonic()
            if event.chunk is not None:
                answer.add(event.chunk, now)
                busy = [e.num_unfinished_requests() for e in engines]
                shared = shared or busy[side] > 1 or any(b for i, b in enumerate(busy) if i != side)
                if settings.enable_thinking and reasoned is None and CLOSE in answer.text:
                    reasoned = Reasoning(answer.metrics.tokens, now - answer.metrics.started)
            if event.done:
                answer.finish(now, f"⚠️ {event.error}" if event.error is not None else "")
    finally:
        await merged.aclose()
    if settings.enable_thinking and reasoned is None:
        reasoned = Reasoning(answer.metrics.tokens, None)
    return shared, reasoned


async def control(
    engine: Backend,
    prepared: Prepared,
    settings: GenerationSettings,
    first: Answer,
    stall: float | None,
    top: int = TOP,
) -> Control:
    """The noise floor (``Control``): ``engine`` (the reference's) answers again beside a second,
    identical request, so its batch differs from the first answer's; then ``first``'s tokens are
    scored alone and beside another scoring request. The model is the same: whatever differs is
    noise of the engine (kernels chosen per batch shape, the order of sums)."""
    again = Answer(SideMetrics(time.monotonic()))
    merged = stream_sides([engine.stream(prepared, [], settings), engine.stream(prepared, [], settings)], stall)
    try:
        async for event in merged:
            if event.side != 0:  # the companion: only there to change the batch
                continue
            if event.chunk is not None:
                again.add(event.chunk, time.monotonic())
            if event.done:
                again.finish(time.monotonic(), f"⚠️ {event.error}" if event.error is not None else "")
    finally:
        await merged.aclose()
    ids = scorable(engine, first.token_ids)
    try:
        alone = await engine.score(prepared, [], settings, ids, top)
        beside = scorable(engine, again.token_ids) or ids
        batched, _ = await asyncio.gather(
            engine.score(prepared, [], settings, ids, top), engine.score(prepared, [], settings, beside, top)
        )
    except DemoError as err:
        return Control(again, error=str(err))
    return Control(again, tuple(alone), tuple(batched))


async def run(
    engines: Sequence[Backend],
    prompts: Sequence[Prompt],
    settings: GenerationSettings,
    *,
    video: VideoOptions = VideoOptions(),
    budget: VisualBudget = VisualBudget(),
    limits: Mapping[str, int] | None = None,
    context: int | None = None,
    stall_seconds: float | None = None,
    noise: bool = True,
    top: int = TOP,
) -> AsyncIterator[Outcome]:
    """Each prompt on each side alone (``TIMING``): one side, then the next, in ``order``; then
    cross-scored against the reference side (its spec says so; else the last), keeping ``top``
    tokens per position; with ``noise``, the reference's noise floor (``control``)."""
    ref = next((i for i, e in enumerate(engines) if e.spec.reference), len(engines) - 1)
    for index, prompt in enumerate(prompts):
        turn = UserTurn(prompt.text, prompt.files)
        try:
            prepared = await asyncio.to_thread(prepare, [turn], video, limits, budget, context, settings.max_tokens)
        except DemoError as err:
            yield Outcome(prompt, None, str(err))
            continue
        ex = Exchange.start(turn, settings, len(engines), time.monotonic(), prepared.plans)
        shared: list[int] = []
        reasoning: list[Reasoning | None] = [None] * len(engines)
        for side in order(index, len(engines)):
            busy, reasoning[side] = await _alone(engines, side, prepared, settings, ex.answers[side], stall_seconds)
            if busy:
                shared.append(side)
        await score_turn(engines, ex, prepared, [[] for _ in engines], ref, asyncio.Event(), top)
        floor = None
        if noise and ex.answers[ref].finish_reason:
            floor = await control(engines[ref], prepared, settings, ex.answers[ref], stall_seconds, top)
        yield Outcome(prompt, ex, shared=tuple(sorted(shared)), reasoning=tuple(reasoning), control=floor)


# --- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The evaluation's command line (``parser``)."""
    return parser().parse_args(argv)


def parser() -> argparse.ArgumentParser:
    """The evaluation's own flags, and the app's ``models`` concern for its sides."""
    p = argparse.ArgumentParser(
        prog="python -m inference.evaluation", description="Run a prompt set through every side and write a report."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompts", type=Path, help="JSONL prompt set (media paths relative to it)")
    source.add_argument("--builtin", action="store_true", help="write the built-in set into OUT/prompts and run it")
    p.add_argument("--media", type=Path, help="a zip with the media the prompts name (default: files beside the set)")
    p.add_argument("--out", type=Path, required=True, help="folder for report.json, report.md and the plots")
    p.add_argument("--reference", metavar="LABEL", help="the side the others are compared with (default: BF16/last)")
    p.add_argument("--max-tokens", type=int, default=128, help="new tokens per answer (greedy, seed 0)")
    p.add_argument("--limit", type=int, help="only the first N prompts")
    p.add_argument("--thinking", action="store_true", help="let Qwen3.5 reason before replying")
    p.add_argument(
        "--top-logprobs",
        type=int,
        default=TOP,
        metavar="K",
        help=f"most likely tokens per scored position for the KL divergence (default {TOP}); the vocabulary's "
        "size makes it exact (the tiny pair: 640)",
    )
    p.add_argument("--no-noise-floor", action="store_true", help="skip the reference-against-itself control")
    add_concern(p, "models")  # the sides: the app's own flags and DEMO_* variables (default: the pair)
    return p


def sides(args: argparse.Namespace, environ: Mapping[str, str]) -> list[Any]:
    """The sides: ``--model`` checkpoints or servers' URLs, else the app's default pair for this
    machine (``inference.deploy.sides.resolve_specs``, the app's own), one of them the reference."""
    from dataclasses import replace

    from inference.deploy.options import OptionError
    from inference.deploy.sides import resolve_specs

    try:
        specs = resolve_specs(concern_from(args, environ, "models"), environ)
    except OptionError as err:
        sys.exit(str(err))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels) or len(specs) < 2:
        sys.exit(f"Need at least two sides with distinct labels, got {labels}.")
    ref = args.reference or next((s.label for s in specs if s.reference), labels[-1])
    if ref not in labels:
        sys.exit(f"--reference {ref}: no side is labelled so (sides: {', '.join(labels)}).")
    specs = [replace(s, reference=s.label == ref) for s in specs]
    if args.top_logprobs > TOP:  # vLLM refuses more log-probabilities than its max_logprobs (default 20)
        specs = [
            replace(s, engine_args={**s.engine_args, "max_logprobs": args.top_logprobs}) if s.backend == "vllm" else s
            for s in specs
        ]
    return specs


async def evaluate_to(
    pool: EnginePool,
    prompts: list[Prompt],
    settings: GenerationSettings,
    out: Path,
    source: str,
    top: int = TOP,
    noise: bool = True,
) -> list[Path]:
    """Warm the engines up, run every prompt with a progress bar, write the report; its paths."""
    from inference.evaluation import report as eval_report
    from inference.inputs.vision import budget_for
    from inference.spec import request_limits

    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with vLLM; a plain count otherwise
        tqdm = None
    await pool.warm_up()
    context, limits = request_limits(pool.specs)
    budget = budget_for(context)
    outcomes = []
    bar = tqdm(total=len(prompts), unit="prompt", file=sys.stderr) if tqdm else None
    run_all = run(pool.engines, prompts, settings, budget=budget, limits=limits, context=context, top=top, noise=noise)
    async for outcome in run_all:
        outcomes.append(outcome)
        if bar is not None:
            bar.set_postfix_str(outcome.prompt.id)
            bar.update()
        else:
            print(f"{len(outcomes)}/{len(prompts)} {outcome.prompt.id}", file=sys.stderr)
    if bar is not None:
        bar.close()
    feet = [e.footprint for e in pool.engines]
    rep = await asyncio.to_thread(eval_report.build, pool.specs, feet, outcomes, settings, source, TIMING)
    return await asyncio.to_thread(eval_report.write, rep, out)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    specs = sides(args, os.environ)
    if any(s.fork for s in specs):  # process-wide CPU settings, before torch is imported
        from inference.spec import CPU_PROCESS_ENV

        os.environ.update(CPU_PROCESS_ENV)
    from inference.engines.pool import EnginePool
    from inference.inputs.samples import write_evaluation_set

    path = write_evaluation_set(args.out / "prompts") if args.builtin else args.prompts
    try:
        prompts = load_prompts(path, args.media, args.out / "unpacked-media")[: args.limit]
    except DemoError as err:
        sys.exit(str(err))
    settings = GenerationSettings(max_tokens=args.max_tokens, enable_thinking=args.thinking)
    pool = EnginePool(specs)
    code = 0
    try:
        pool.start()  # before the loop: vLLM's output handler starts lazily in the loop that streams
        source = "built-in set" if args.builtin else path.name
        work = evaluate_to(pool, prompts, settings, args.out, source, args.top_logprobs, not args.no_noise_floor)
        for written in asyncio.run(work):
            print(written)
    except Exception as err:
        print(f"evaluation failed: {err!r}", file=sys.stderr)
        code = 1
    finally:
        pool.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # vLLM's finalizers print noise at interpreter exit; the engines are down


if __name__ == "__main__":
    main()
