"""The page built over a set of engines, and served: what ``app.py`` composes.

Contract: ``build(specs, settings, video, ...)`` makes the engine pool (not started), the
``Comparison`` that answers the page's events, and the ``gr.Blocks`` page with its queue
configured: ``(demo, comparison)``. ``launch(demo, comparison, host, port, ...)`` serves it
without blocking, with ``/healthz``, ``/readyz``, ``/metrics``, ``/gpu-check`` and (with a store) ``/shared/{id}``
and (with a key) ``/votes.csv`` beside it, the viewer middleware (``ui.viewers``) and the
engines' lifespan (``ui.lifespan``).
Neither reads the command line or the environment: ``app.py`` passes everything in.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inference.spec import ModelSpec, gpu_pair

if TYPE_CHECKING:
    from inference.engines.backends import EngineFactory

TINY_BANNER = (
    "⚠️ **Tiny random checkpoints on CPU.** No GPU was found, so both panes run randomly "
    "initialised miniature Qwen3.5 models (the real architecture, the real FP8 recipe) on {engine}. "
    "**Their answers are noise**; the pipeline, streaming and timing are real. "
    "On a CUDA GPU the app runs `{fp8}` and `{bf16}`."
)


def build(
    specs: list[ModelSpec],
    settings,
    video=None,
    *,
    stall_seconds: float | None = None,
    cache_hours=None,
    limits=None,
    max_queue: int | None = None,
    store=None,
    blind: bool = False,
    store_prompts: bool = False,
    share_days: float = 30.0,
    max_tokens_cap: int | None = None,
    identity=None,
    log_prompts: bool = False,
    examples_dir: Path | None = None,
    sign_in: bool = False,
    make_engine: EngineFactory | None = None,
):
    """The page and its handlers, engines not yet started, queue configured: ``(demo, comparison)``.

    ``cache_hours``: Gradio deletes uploads (and files it served) older than this, checked
    every tenth of it; ``None`` keeps them until the app exits. Turns run ``capacity`` at a time
    (the engines' batch size); ``max_queue`` more may wait (default 4 × capacity), beyond which
    a turn is refused with "busy, please retry"; ``limits``: per-user limits (default none).
    ``store`` (``inference.store.db.Store``): the blind test's tab and share links use it (none
    without one); ``blind``: the page opens on the blind test; ``max_tokens_cap``: the most new
    tokens a visitor may ask for (default: the slider's own 8192); ``identity``: how viewers are
    told apart (``ui.viewers.Identity``; default: a random secret, no proxy); ``log_prompts``: the
    per-turn log line shows the prompt; ``examples_dir``: the example gallery's media; ``sign_in``: a
    Hugging Face sign-in button (``gr.LoginButton``: Gradio then attaches its OAuth routes and
    session, and ``ui.viewers`` keys a signed-in person by name); ``make_engine``: what builds each
    side's engine (default: its backend's class, ``inference.engines.backends``; tests pass a fake)."""
    from inference.deploy.limits import UserLimits
    from inference.engines.pool import EnginePool
    from inference.inputs.media import VideoOptions
    from ui.layout import build_demo
    from ui.session import Comparison

    pool = EnginePool(specs) if make_engine is None else EnginePool(specs, make=make_engine)
    banner = ""
    if any(s.tiny for s in specs):
        fp8, bf16 = (s.model for s in gpu_pair())
        names = {"vllm": "vLLM's CPU engine", "transformers": "transformers (`model.generate`)"}
        engine = " and ".join(dict.fromkeys(names.get(s.backend, s.backend) for s in specs))
        banner = TINY_BANNER.format(fp8=fp8, bf16=bf16, engine=engine)
    limits = limits or UserLimits(running=0, per_minute=0)
    options = {"user_limits": limits, "max_queue": max_queue, "identity": identity, "log_prompts": log_prompts}
    options["max_tokens_cap"] = max_tokens_cap
    comparison = Comparison(pool, settings, video or VideoOptions(), stall_seconds=stall_seconds, **options)
    age = None if cache_hours is None else max(1, int(cache_hours * 3600))
    delete_cache = None if age is None else (max(1, age // 10), age)
    extras = {}
    if store is not None:
        from ui.blind import BlindTest
        from ui.share import Sharer

        extras = {"blind": BlindTest(comparison, store, store_prompts=store_prompts), "blind_first": blind}
        extras["sharer"] = Sharer(comparison, store, share_days)
    demo = build_demo(comparison, banner, examples_dir, delete_cache, **extras)
    if sign_in:
        import gradio as gr

        with demo:
            gr.LoginButton(elem_id="sign-in")
    # Turns wait for a slot inside the handler (``ui.queue``), which tells users their place or
    # that the demo is busy; Gradio's own queue only guards against floods (its "busy" toast).
    queue = comparison.queue
    demo.queue(default_concurrency_limit=queue.capacity, max_size=4 * (queue.capacity + queue.max_queue))
    return demo, comparison


def launch(
    demo,
    comparison,
    host: str = "127.0.0.1",
    port: int | None = None,
    max_file_size="500mb",
    store=None,
    share_days: float = 30.0,
    *,
    max_sessions: int = 1000,
    closed_session_seconds: float | None = 3600.0,
    blocked: Path | None = None,
    votes_key: str | None = None,
    gpu_report: Path | None = None,
    metrics_key: str | None = None,
    **extra,
):
    """Serve the page without blocking; the engines warm up in the server's loop once started;
    ``/healthz`` and ``/readyz`` answer beside it (``ui/health.py``), ``/metrics``
    (``ui/telemetry.py``), and with a ``store`` the shared comparisons at ``/shared/{id}``
    (``ui/share.py``). Each request's viewer and address are worked out by ``ui.viewers``
    (a signed cookie; X-Forwarded-For by ``--proxy-hops``), so uvicorn is told to trust no proxy
    (``FORWARDED_ALLOW_IPS``): its own rewrite takes the leftmost entry when trusting ``*``.

    Gradio keeps at most ``max_sessions`` sessions (the least recently used go first), and a
    closed tab's session ``closed_session_seconds`` after its last use (``ui/sessions.py``;
    ``None``: until it is among the least recently used).

    Only uploads and the shipped examples' cached copies are served (no ``allowed_paths``; the
    project folder blocked); uploads over ``max_file_size`` are refused by Gradio before they
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

    routes = health.routes(comparison.pool) + comparison.telemetry.routes(metrics_key)
    if gpu_report is not None:
        routes.append(health.gpu_check_route(gpu_report))
    if store is not None:
        routes += share.routes(store, share_days) + blind.votes_routes(store, votes_key)
    app_kwargs = {
        "lifespan": lifespan(comparison.pool, closed_session_seconds),
        "routes": routes,
        "middleware": [
            Middleware(Bodies, limit=lambda: api_limit(comparison.context)),  # before anything reads a body
            Middleware(Viewers, identity=comparison.identity),
        ],
    }
    return demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=max_file_size,
        blocked_paths=[str(blocked)] if blocked else None,
        prevent_thread_lock=True,
        ssr_mode=False,
        enable_monitoring=False,  # Gradio's /monitoring: its key printed to the log, its page open
        state_session_capacity=max_sessions,
        app_kwargs=app_kwargs,
        css=CSS,
        **extra,
    )
