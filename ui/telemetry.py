"""What an operator watches: ``/metrics`` in Prometheus' format, and one JSON log line per turn.

Contract: ``Telemetry(pool, queue, identity, log_prompts)`` owns one registry (its own, so that
several apps in one process never collide) holding: turns by outcome (``completed``, ``stopped``,
``failed``: a side failed, ``refused``), refusals by reason (``busy``, ``user_running``,
``user_per_minute``, ``address_per_minute``, ``input``, ``input_too_long``), per side the time to first token and the
decode rate as histograms and the prompt and answer tokens as counters, the turns running and
waiting now, each side's engine restarts, the process' own figures, and vLLM's engine metrics for
every in-process side (``side`` label added; vLLM keeps only the last-started engine's in its
default registry, so each engine hands over its own, ``collectors``). ``refused(request, err,
turn)`` and ``turn(request, exchange, cleared)`` count a turn and write its line to the
``demo.turns`` logger: who (a pseudonym of the viewer key), sides, prompt and answer tokens, TTFT,
outcome, how many X-Forwarded-For entries came with it (from a browser: the proxies in front, what
``--proxy-hops`` should be); the prompt's text and file names only with ``log_prompts``.
``routes(key)`` serves ``/metrics``: with a ``key``, to a request that sends ``Authorization: Bearer
KEY``; without one, only to a client on this machine that came through no proxy (a loopback peer,
no ``X-Forwarded-For``), since per-side counters that move with each turn would tell a viewer which
side of a pending blind turn is which; anyone else gets 401/403 and one sentence. A label value
that is an absolute path (vLLM's ``model_name`` of a local checkpoint) is shown as its last part.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inference.compare.transcript import Exchange
from inference.engines.pool import EnginePool
from inference.inputs.chat import UserTurn
from ui import viewers
from ui.queue import TurnQueue
from ui.views import STOPPED

log = logging.getLogger("demo.turns")

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # seconds
RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)  # decode tokens per second


class Telemetry:
    def __init__(self, pool: EnginePool, queue: TurnQueue, identity: viewers.Identity, log_prompts: bool = False):
        self.labels = [s.label for s in pool.specs]
        self.identity = identity
        self.log_prompts = log_prompts
        r = self.registry = CollectorRegistry()
        self.turns = Counter("demo_turns", "Turns by outcome.", ["outcome"], registry=r)
        self.refusals = Counter("demo_refusals", "Turns refused, by reason.", ["reason"], registry=r)
        self.ttft = Histogram(
            "demo_ttft_seconds", "Time to first token per side.", ["side"], buckets=TTFT_BUCKETS, registry=r
        )
        self.rate = Histogram(
            "demo_decode_tokens_per_second", "Decode rate per side.", ["side"], buckets=RATE_BUCKETS, registry=r
        )
        self.prompt_tokens = Counter("demo_prompt_tokens", "Prompt tokens per side.", ["side"], registry=r)
        self.answer_tokens = Counter("demo_answer_tokens", "Answer tokens per side.", ["side"], registry=r)
        for outcome in ("completed", "stopped", "failed", "refused"):  # every series from the start
            self.turns.labels(outcome)
        r.register(_Live(pool, queue))
        r.register(_Vllm(pool))
        for shared in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # the process' own figures
            r.register(shared)  # also in the default registry: a collector may be in several

    def routes(self, key: str | None = None) -> list[Route]:
        def metrics(request: Request) -> Response:
            if key is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                    why = "/metrics is for the host: send the key from --metrics-key-env as "
                    why += "'Authorization: Bearer KEY'.\n"
                    return PlainTextResponse(why, 401)
            elif not _local(request):
                why = (
                    "/metrics answers only on this machine; the host can set --metrics-key-env to read it from afar.\n"
                )
                return PlainTextResponse(why, 403)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return [Route("/metrics", metrics, methods=["GET"])]

    # --- one turn ----------------------------------------------------------------------------

    def refused(self, request: Any, err: Exception, turn: UserTurn) -> None:
        reason = getattr(err, "reason", "input")
        self.refusals.labels(reason).inc()
        self.turns.labels("refused").inc()
        self._line(request, turn, "refused", reason=reason)

    def turn(self, request: Any, ex: Exchange, cleared: bool = False) -> None:
        notes = [a.note for a in ex.answers]
        failed = any(n.startswith("⚠️") for n in notes)
        outcome = "failed" if failed else "stopped" if cleared or STOPPED in notes else "completed"
        self.turns.labels(outcome).inc()
        sides: dict[str, dict[str, Any]] = {}
        for label, answer in zip(self.labels, ex.answers, strict=True):
            m = answer.metrics
            if m.ttft is not None:
                self.ttft.labels(label).observe(m.ttft)
            if m.decode_rate is not None:
                self.rate.labels(label).observe(m.decode_rate)
            self.prompt_tokens.labels(label).inc(m.prompt_tokens or 0)
            self.answer_tokens.labels(label).inc(m.tokens)
            sides[label] = {
                "prompt_tokens": m.prompt_tokens,
                "answer_tokens": m.tokens,
                "ttft_ms": None if m.ttft is None else round(m.ttft * 1000, 1),
                "decode_tps": None if m.decode_rate is None else round(m.decode_rate, 1),
                "finish": answer.finish_reason or _ending(answer.note),
            }
        self._line(request, ex.turn, outcome, sides=sides)

    def _line(self, request: Any, turn: UserTurn, outcome: str, **fields: Any) -> None:
        record: dict[str, Any] = {"event": "turn", "who": self.identity.pseudonym(viewers.key(request))}
        record |= {"outcome": outcome, "files": len(turn.files), "forwarded": viewers.forwarded(request), **fields}
        if self.log_prompts:
            record |= {"prompt": turn.text, "file_names": [Path(f).name for f in turn.files]}
        log.info(json.dumps(record, ensure_ascii=False))


def _local(request: Request) -> bool:
    """A client on this machine that came through no proxy."""
    peer = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    return loopback and "x-forwarded-for" not in request.headers and "forwarded" not in request.headers


def _unpath(labels: dict[str, str]) -> dict[str, str]:
    """Label values that are absolute paths shortened to their last part (no folder layout shown)."""
    return {k: (PurePath(v).name if v.startswith("/") else v) for k, v in labels.items()}


def _ending(note: str) -> str | None:
    return "stopped" if note == STOPPED else "error" if note else None


class _Live:
    """Read at each scrape: turns running and waiting now, each side's engine restarts."""

    def __init__(self, pool: EnginePool, queue: TurnQueue):
        self.pool, self.queue = pool, queue

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("demo_turns_running", "Turns being answered now.", value=self.queue.running)
        yield GaugeMetricFamily("demo_turns_waiting", "Turns waiting for a free slot now.", value=self.queue.waiting)
        restarts = CounterMetricFamily("demo_engine_restarts", "Engines restarted after they died.", labels=["side"])
        for engine in self.pool.engines:
            restarts.add_metric([engine.spec.label], engine.restarts)
        yield restarts


class _Vllm:
    """vLLM's own metrics of every in-process side, merged by name, each sample labelled with its side."""

    def __init__(self, pool: EnginePool):
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for engine in self.pool.engines:
            for family in _families(engine.collectors):
                into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for s in family.samples:
                    into.samples.append(s._replace(labels={**_unpath(s.labels), "side": engine.spec.label}))
        yield from merged.values()


def _families(collectors: Iterable[Any]) -> Iterator[Metric]:
    for collector in collectors:
        yield from collector.collect()
