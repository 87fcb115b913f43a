"""The page built over a set of engines, and served: what ``app.py`` composes.

Contract: ``build(specs, options, ...)`` makes the engine pool (not started), the ``Comparison``
that answers the page's events, and the ``gr.Blocks`` page with its queue configured, all as the
host's ``Options`` (``inference.deploy.options``) say: a ``Page``. ``launch(page, ...)`` serves it
without blocking, where and as the same options say, with ``/healthz``, ``/readyz``, ``/metrics``,
``/gpu-check`` and (with a store) ``/shared/{id}`` and (with a key) ``/votes.csv`` beside it, the
viewer middleware (``ui.viewers``) and the engines' lifespan (``ui.lifespan``).
Neither reads the command line or the environment: ``app.py`` passes everything in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.deploy.options import Options
from inference.spec import ModelSpec, gpu_pair

if TYPE_CHECKING:  # imported when building: torch must not be imported before app.py sets the CPU variables
    import gradio as gr
    from gradio.routes import App

    from inference.engines.backends import EngineFactory
    from inference.inputs.chat import GenerationSettings
    from inference.store.db import Store
    from ui.blind import BlindTest
    from ui.session import Comparison
    from ui.share import Sharer
    from ui.viewers import Identity

TINY_BANNER = (
    "⚠️ **Tiny random checkpoints on CPU.** No GPU was found, so both panes run randomly "
    "initialised miniature Qwen3.5 models (the real architecture, the real FP8 recipe) on {engine}. "
    "**Their answers are noise**; the pipeline, streaming and timing are real. "
    "On a CUDA GPU the app runs `{fp8}` and `{bf16}`."
)


@dataclass
class Page:
    """What ``build`` makes and ``launch`` serves: the page, the comparison that answers its events,
    the options it was built with and the store it keeps votes and shares in (``None``: no blind
    test, no share links)."""

    demo: gr.Blocks
    comparison: Comparison
    options: Options
    store: Store | None = None


def build(
    specs: list[ModelSpec],
    options: Options = Options(),
    *,
    settings: GenerationSettings | None = None,
    identity: Identity | None = None,
    store: Store | None = None,
    examples_dir: Path | None = None,
    make_engine: EngineFactory | None = None,
) -> Page:
    """The page and its handlers, engines not yet started, queue configured.

    From ``options``: the settings the page starts with and the most new tokens a visitor may ask
    for (``generation``; ``settings`` replaces the former, e.g. a test's sampling), the video
    limits, the stall timeout; uploads are deleted ``limits.cache_hours`` old (checked every tenth
    of it; ``None`` keeps them until the app exits); turns run ``capacity`` at a time (the engines'
    batch size) and ``limits.max_queue`` more may wait (0: 4 × capacity), beyond which a turn is
    refused with "busy, please retry"; per-user limits; the blind test and share links with a
    ``store`` (``inference.store.db.Store``), the page opening on the blind test with
    ``storage.blind``; the per-turn log line's prompt (``network.log_prompts``) and a Hugging Face
    sign-in button (``network.hf_sign_in``: ``gr.LoginButton``; Gradio then attaches its OAuth
    routes and session, and ``ui.viewers`` keys a signed-in person by name). ``identity``: how
    viewers are told apart (default: as ``network`` says, with ``cookie_secret`` or a random
    secret); ``examples_dir``: the example gallery's media; ``make_engine``: what builds each side's
    engine (default: its backend's class, ``inference.engines.backends``; tests pass a fake)."""
    from inference.engines.pool import EnginePool
    from ui.gradio_adapter import quiet_queue
    from ui.layout import build_demo
    from ui.preview import sweep_once
    from ui.session import Comparison
    from ui.viewers import Identity

    sweep_once()  # scratch folders of apps killed outright, before any handler runs on the loop

    gen, limits, network, storage = options.generation, options.limits, options.network, options.storage
    pool = EnginePool(specs) if make_engine is None else EnginePool(specs, make=make_engine)
    banner = ""
    if any(s.tiny for s in specs):
        fp8, bf16 = (s.model for s in gpu_pair())
        names = {"vllm": "vLLM's CPU engine", "transformers": "transformers (`model.generate`)"}
        engine = " and ".join(dict.fromkeys(names.get(s.backend, s.backend) for s in specs))
        banner = TINY_BANNER.format(fp8=fp8, bf16=bf16, engine=engine)
    if identity is None:
        secret = network.cookie_secret.encode() or secrets.token_bytes(32)  # random: viewers new after a restart
        identity = Identity(
            secret,
            proxy_hops=network.proxy_hops,
            trusted_proxies=network.trusted_proxies,
            cookies_per_minute=limits.ip_cookies_per_minute,
        )
    comparison = Comparison(
        pool,
        settings or gen.settings(),
        gen.video(),
        stall_seconds=gen.stall_seconds,
        user_limits=limits.user_limits(),
        max_queue=limits.max_queue or None,
        max_tokens_cap=gen.max_tokens,  # the host's --max-tokens is the most a visitor may ask for
        identity=identity,
        log_prompts=network.log_prompts,
    )
    age = None if limits.cache_hours is None else max(1, int(limits.cache_hours * 3600))
    delete_cache = None if age is None else (max(1, age // 10), age)
    blind: BlindTest | None = None  # with a store: the blind test (first when asked) and share links
    sharer: Sharer | None = None
    blind_first = False
    if store is not None:
        from ui.blind import BlindTest
        from ui.share import Sharer

        blind = BlindTest(comparison, store, store_prompts=storage.store_prompts)
        blind_first, sharer = storage.blind, Sharer(comparison, store, storage.share_days)
    demo = build_demo(comparison, banner, examples_dir, delete_cache, blind, blind_first, sharer)
    if network.hf_sign_in:
        import gradio as gr

        with demo:
            gr.LoginButton(elem_id="sign-in")
    # Turns wait for a slot inside the handler (``ui.queue``), which tells users their place or
    # that the demo is busy; Gradio's own queue only guards against floods (its "busy" toast).
    queue = comparison.queue
    demo.queue(default_concurrency_limit=queue.capacity, max_size=4 * (queue.capacity + queue.max_queue))
    quiet_queue(demo)  # an idle page's server polls its queue every 10 ms, not every 1 ms
    return Page(demo, comparison, options, store)


def launch(
    page: Page,
    *,
    blocked: Path | None = None,
    votes_key: str | None = None,
    gpu_report: Path | None = None,
    metrics_key: str | None = None,
    **extra: Any,
) -> tuple[App, str, str]:
    """Serve the page without blocking, on ``network.host`` and ``network.port`` (``extra`` goes to
    ``gr.Blocks.launch`` and wins, e.g. a test's ``server_port``); the engines warm up in the
    server's loop once started; ``/healthz`` and ``/readyz`` answer beside it (``ui/health.py``),
    ``/metrics`` (``ui/telemetry.py``), and with the page's store the shared comparisons at
    ``/shared/{id}`` (``ui/share.py``). Each request's viewer and address are worked out by
    ``ui.viewers`` (a signed cookie; X-Forwarded-For by ``--proxy-hops``), so uvicorn is told to
    trust no proxy (``FORWARDED_ALLOW_IPS``): its own rewrite takes the leftmost entry when trusting ``*``.

    Gradio keeps at most ``limits.max_sessions`` sessions (the least recently used go first), and a
    closed tab's session ``limits.closed_session_minutes`` after its last use (``ui/sessions.py``;
    ``None``: until it is among the least recently used).

    Only uploads and the shipped examples' cached copies are served (no ``allowed_paths``; the
    project folder blocked); uploads over ``limits.max_file_size`` are refused by Gradio before they
    reach a handler, and a handler takes files from Gradio's upload folder only. ``blocked``: a
    folder never served (the project's own); ``votes_key``: with a store, the host's CSV of every
    vote at ``/votes.csv`` (``ui.blind.votes_routes``); ``gpu_report``: ``make gpu-check``'s table,
    served at ``/gpu-check`` (``ui.health.gpu_check_route``); ``metrics_key``: ``/metrics`` for that key
    (without one, for this machine alone: ``ui.telemetry``). Gradio's own ``/monitoring`` route is
    off. The caller clears ``FORWARDED_ALLOW_IPS`` (``app.py``)."""
    from starlette.middleware import Middleware

    from ui import blind, health, share
    from ui.bodies import Bodies, api_limit
    from ui.layout import CSS
    from ui.lifespan import lifespan
    from ui.viewers import Viewers

    comparison, limits, network = page.comparison, page.options.limits, page.options.network
    routes = health.routes(comparison.pool) + comparison.telemetry.routes(metrics_key)
    if gpu_report is not None:
        routes.append(health.gpu_check_route(gpu_report))
    if page.store is not None:
        routes += share.routes(page.store, page.options.storage.share_days) + blind.votes_routes(page.store, votes_key)
    minutes = limits.closed_session_minutes
    app_kwargs: dict[str, Any] = {
        "lifespan": lifespan(comparison.pool, None if minutes is None else minutes * 60),
        "routes": routes,
        "middleware": [
            Middleware(Bodies, limit=lambda: api_limit(comparison.context)),  # before anything reads a body
            Middleware(Viewers, identity=comparison.identity),
        ],
    }
    served: dict[str, Any] = {
        "server_name": network.host,
        "server_port": network.port,
        "max_file_size": limits.max_file_size,
    }
    return page.demo.launch(
        **{**served, **extra},
        blocked_paths=[str(blocked)] if blocked else None,
        prevent_thread_lock=True,
        ssr_mode=False,
        enable_monitoring=False,  # Gradio's /monitoring: its key printed to the log, its page open
        state_session_capacity=limits.max_sessions,
        app_kwargs=app_kwargs,
        css=CSS,
    )
