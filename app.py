"""Composition root: read the command line and environment, build engines and page, launch.

Contract: nothing else in the project reads ``sys.argv`` or the environment. ``main()``
serves the page at once, starts the engines one after the other while the page shows
progress (on a ZeroGPU Space the engines load first: ZeroGPU takes the weights at launch),
and shuts every engine down on exit, Ctrl-C or SIGTERM (no orphan EngineCore).

    python app.py                      # real 9B pair on a CUDA GPU, tiny pair on CPU otherwise
    python app.py --model FP8=/path/a --model BF16=/path/b --device cpu
    python app.py --model FP8=/path/a --model BF16=http://gpu-box:8000/v1   # BF16 on a vLLM server
    python app.py --backend transformers                                      # no vLLM for any side
    python app.py --backend BF16=transformers                                 # BF16 side on transformers
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no outside connections

from inference.deploy.gpu import has_cuda_gpu, plan_gpu_memory
from inference.spec import BF16_MODEL, CPU_PROCESS_ENV, FP8_MODEL, MM_LIMITS, ModelSpec, cpu_pair, cpu_spec, gpu_pair
from ui import serve
from ui.viewers import PRIVATE as PRIVATE_NETWORKS
from ui.viewers import networks

log = logging.getLogger("app")
ROOT = Path(__file__).resolve().parent
TINY_DIR = ROOT / ".cache" / "tiny"
DATA_DIR = ROOT / "data"  # votes and shared comparisons (git-ignored); the Docker image sets /data
EXAMPLES_DIR = ROOT / "examples"  # written by `python -m inference.inputs.samples --out examples`
ENV_PREFIX = "DEMO_"  # every option --some-option can also be given as DEMO_SOME_OPTION
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_name(flag: str) -> str:
    """The environment variable of a command-line option: ``--max-tokens`` → ``DEMO_MAX_TOKENS``."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _from_env(name: str, raw: str, options: dict) -> object:
    """An option's default from its variable, converted as argparse would; a bad value stops the app
    with one sentence naming the variable."""
    if options.get("action") == "store_true":
        if raw.strip().lower() not in TRUE + FALSE:
            sys.exit(f"{name}={raw!r}: say 1 or 0.")
        return raw.strip().lower() in TRUE
    if options.get("action") == "append":  # several values, separated as on a command line
        return raw.split()
    convert = options.get("type", str)
    try:
        value = convert(raw)
    except (TypeError, ValueError):
        sys.exit(f"{name}={raw!r}: not a valid {getattr(convert, '__name__', 'value')}.")
    if options.get("choices") and value not in options["choices"]:
        sys.exit(f"{name}={raw!r}: choose one of {', '.join(options['choices'])}.")
    return value


def parse_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    """The command line, each option's default taken from its ``DEMO_*`` variable when set (a Space is
    configured by its variables); the command line wins over the environment."""
    p, from_env = _parser(os.environ if environ is None else environ)
    args = p.parse_args(argv)
    for dest, values in from_env.items():
        if getattr(args, dest) is None:
            setattr(args, dest, values)
    args.backend = args.backend or []
    args.api_key_env = args.api_key_env or []
    args.max_queue = args.max_queue or None
    if args.proxy_hops < 0:
        sys.exit(f"--proxy-hops {args.proxy_hops}: say how many proxies, 0 or more.")
    try:
        args.trusted_proxies = networks(args.trusted_proxies)
    except ValueError as err:
        sys.exit(f"--trusted-proxies ({env_name('--trusted-proxies')}): {err}.")
    if args.max_sessions < 1 or args.closed_session_minutes < 0:
        bad = "--max-sessions" if args.max_sessions < 1 else "--closed-session-minutes"
        sys.exit(f"{bad} ({env_name(bad)}): needs at least {1 if bad == '--max-sessions' else 0}.")
    return args


def environment_names() -> set[str]:
    """Every environment variable the command line reads."""
    p, _ = _parser({})
    names = {env_name(a.option_strings[-1]) for a in p._actions if a.option_strings and a.dest != "help"}
    return names | {"GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"}


def _parser(env) -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    from inference.engines.backends import BACKENDS

    p = argparse.ArgumentParser(
        description="Qwen3.5-9B FP8 next to BF16, streamed side by side.",
        epilog=f"Every option can also be set by its environment variable, shown in brackets ({ENV_PREFIX}…).",
    )
    from_env: dict[str, list[str]] = {}  # appending options: the environment's values, unless argv gives some

    def option(flag: str, **options) -> None:
        name = env_name(flag)
        options["help"] = f"{options.get('help', '')} [{name}]".strip()
        if name in env:
            value = _from_env(name, env[name], options)
            if options.get("action") == "append":
                from_env[options.get("dest", flag.lstrip("-").replace("-", "_"))] = value
            else:
                options["default"] = value
        p.add_argument(flag, **options)

    backends = ", ".join(b for b in BACKENDS if b != "remote")
    option("--device", choices=["auto", "cuda", "cpu"], default="auto", help="auto: CUDA where nvidia-smi lists a GPU")
    option(
        "--model",
        action="append",
        metavar="LABEL=MODEL",
        help="a side as label=model id, path or an OpenAI-compatible server's URL (…/v1) (repeat for each "
        "side); default: the FP8/BF16 pair",
    )
    option(
        "--backend",
        action="append",
        metavar="[LABEL=]NAME",
        help=f"what runs the in-process sides: {backends} (vllm by default), for all of them or one label "
        "(repeat); a side given as a URL always runs on its server",
    )
    option(
        "--api-key-env",
        action="append",
        metavar="LABEL=VARIABLE",
        help="a side served by a URL sends the key held in this environment variable (repeat per side; "
        "the key itself never goes on the command line)",
    )
    option("--fp8-model", default=FP8_MODEL, help="GPU pair: FP8 side")
    option("--bf16-model", default=BF16_MODEL, help="GPU pair: BF16 side")
    option(
        "--host", default=env.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on (or GRADIO_SERVER_NAME)"
    )
    option("--port", type=int, default=int(env.get("GRADIO_SERVER_PORT", "7860")), help="(or GRADIO_SERVER_PORT)")
    option("--max-tokens", type=int, default=256, help="new tokens per answer: the slider's start and its maximum")
    option("--ignore-eos", action="store_true", help="for load tests and benchmarks: every answer runs to max tokens")
    option("--max-video-seconds", type=float, default=600.0, help="longer uploads are refused")
    option("--video-backend", choices=["pyav", "decord", "opencv"], default="pyav", help="video decoder")
    option("--stall-seconds", type=float, default=120.0, help="a side that produces nothing this long is stopped")
    option("--max-file-size", default="500mb", help="larger uploads are refused by the server")
    option("--cache-hours", type=float, default=24.0, help="uploads and other served files older than this are deleted")
    option(
        "--max-queue",
        type=int,
        default=0,
        help="turns that may wait for a free slot before users are told the demo is busy "
        "(0: 4 x the engines' batch size, max_num_seqs)",
    )
    option(
        "--max-sessions",
        type=int,
        default=1000,
        help="browser sessions (conversations) kept in memory; the least recently used go first",
    )
    option(
        "--closed-session-minutes",
        type=float,
        default=60.0,
        help="a closed tab's conversation is forgotten this long after its last turn",
    )
    option("--user-running", type=int, default=4, help="turns one user may have answered at once; 0: no limit")
    option("--user-per-minute", type=int, default=30, help="turns one user may send per minute; 0: no limit")
    option(
        "--ip-per-minute",
        type=int,
        default=0,
        help="turns one network address may send per minute, all its users together (a flood limit); 0: none",
    )
    option(
        "--ip-running",
        type=int,
        default=16,
        help="turns one network address may have answered at once, all its users together (a ceiling "
        "fresh cookies cannot multiply); 0: none",
    )
    option(
        "--ip-cookies-per-minute",
        type=int,
        default=30,
        help="new viewer cookies one network address may get a minute (a room loads the page at human "
        "pace, a script in a burst); beyond it a page load gets none and is its address; 0: no limit",
    )
    option(
        "--trusted-proxies",
        default=",".join(PRIVATE_NETWORKS),
        help="comma-separated addresses or networks of the proxies in front: X-Forwarded-For is read "
        "(--proxy-hops deep) only on connections from them",
    )
    option(
        "--proxy-hops",
        type=int,
        default=0,
        help="trusted proxies in front of the app: a client's address is X-Forwarded-For's entry this many "
        "from the right (0: the connection's peer)",
    )
    option(
        "--cookie-secret",
        default="",
        help="signs the viewer cookie that tells browsers apart (set it as a Space secret); "
        "empty: a random one per start, and viewers are new after each restart",
    )
    option("--log-prompts", action="store_true", help="the per-turn log line also shows the prompt and file names")
    option("--tiny-dir", type=Path, default=TINY_DIR, help="where `make tiny` wrote the CPU pair")
    option("--data-dir", type=Path, default=DATA_DIR, help="what the app keeps: the default SQLite database")
    option(
        "--database",
        default="",
        help="votes and shared comparisons: an SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db "
        "for several replicas (default: SQLite in --data-dir)",
    )
    option("--blind", action="store_true", help="open on the blind test (a showcase screen)")
    option(
        "--hf-sign-in",
        action="store_true",
        help="a Hugging Face sign-in button (Gradio's OAuth; a Space also needs hf_oauth: true in its README's "
        "front matter): a signed-in person is one user in every browser",
    )
    option("--store-prompts", action="store_true", help="keep each blind turn's prompt text with its vote")
    option("--share-days", type=float, default=30.0, help="shared comparisons expire after this many days")
    option(
        "--votes-key-env",
        metavar="VARIABLE",
        default="",
        help="the host downloads every blind vote as CSV at /votes.csv with the key this environment variable "
        "holds (Authorization: Bearer KEY); unset: no download",
    )
    option(
        "--metrics-key-env",
        metavar="VARIABLE",
        default="",
        help="/metrics answers requests with the key this environment variable holds (Authorization: Bearer "
        "KEY); unset: only clients on this machine that came through no proxy",
    )
    return p, from_env


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def default_label(model: str) -> str:
    """A side's label when none is given: a server's host:port, or a checkpoint's folder name."""
    return urlparse(model).netloc if is_url(model) else Path(model).name


def resolve_specs(args: argparse.Namespace) -> list[ModelSpec]:
    """The sides to run, from the command line: their models, backends and engine arguments."""
    cuda = args.device == "cuda" or (args.device == "auto" and has_cuda_gpu())
    if args.model:
        pairs = [m.split("=", 1) if "=" in m and not is_url(m) else (default_label(m), m) for m in args.model]
        local = [(label, model) for label, model in pairs if not is_url(model)]
        if cuda:
            specs = [ModelSpec(label, model, gpu_pair()[0].engine_args) for label, model in local]
        else:
            cpu = 256 * 2**20
            specs = [cpu_spec(label, model, core=i % 2, kv_cache_bytes=cpu) for i, (label, model) in enumerate(local)]
        specs = with_backends(specs, args.backend)
        planned = {s.label: s for s in (plan_gpu_memory(specs) if cuda and specs else specs)}
        specs = [remote_spec(label, model) if is_url(model) else planned[label] for label, model in pairs]
        return with_api_keys(specs, args.api_key_env, os.environ)
    if args.api_key_env:
        sys.exit("--api-key-env is for sides served by a URL (--model LABEL=http://…/v1); there are none.")
    if cuda:
        return plan_gpu_memory(with_backends(gpu_pair(args.fp8_model, args.bf16_model), args.backend))
    missing = [d for d in ("bf16", "fp8") if not (args.tiny_dir / d / "config.json").exists()]
    if missing:
        sys.exit(f"No GPU and no tiny checkpoints in {args.tiny_dir} ({', '.join(missing)}): run `make tiny`.")
    return with_backends(cpu_pair(args.tiny_dir), args.backend)


def remote_spec(label: str, url: str) -> ModelSpec:
    """A side served by an OpenAI-compatible server (``vllm serve``); its model name is asked of
    the server when the side starts."""
    return ModelSpec(label, "", {"limit_mm_per_prompt": MM_LIMITS}, backend="remote", endpoint=url.rstrip("/"))


def with_api_keys(specs: list[ModelSpec], choices: list[str], environ) -> list[ModelSpec]:
    """``--api-key-env LABEL=VARIABLE``: that remote side sends the key the variable holds. A missing
    or empty variable, or a label that is not a remote side, stops the app with one sentence (which
    names the variable, never its value)."""
    remote = {s.label for s in specs if s.backend == "remote"}
    keys = {}
    for choice in choices:
        label, _, name = choice.partition("=")
        if not name:
            sys.exit(f"--api-key-env {choice}: give it as LABEL=VARIABLE, e.g. BF16=BF16_API_KEY.")
        if label not in remote:
            sides = ", ".join(sorted(remote)) or "none"
            sys.exit(f"--api-key-env {choice}: {label} is not a side served by a URL (those are: {sides}).")
        if not environ.get(name):
            sys.exit(f"--api-key-env {choice}: the environment variable {name} is not set or empty.")
        keys[label] = environ[name]
    return [replace(s, api_key=keys[s.label]) if s.label in keys else s for s in specs]


def with_backends(specs: list[ModelSpec], choices: list[str]) -> list[ModelSpec]:
    """``--backend NAME`` (every side) and ``--backend LABEL=NAME`` (one side), the latter winning."""
    from inference.engines.backends import BACKENDS

    every = [c for c in choices if "=" not in c][-1:]  # the last one given
    per_label = dict(c.split("=", 1) for c in choices if "=" in c)
    labels = {s.label for s in specs}
    for label, name in [*((None, c) for c in every), *per_label.items()]:
        if name not in BACKENDS or name == "remote":
            sys.exit(f"--backend {name}: unknown; choose one of {', '.join(b for b in BACKENDS if b != 'remote')}.")
        if label is not None and label not in labels:
            sys.exit(f"--backend {label}={name}: no side is labelled {label} (sides: {', '.join(sorted(labels))}).")
    return [replace(s, backend=per_label.get(s.label, every[0] if every else s.backend)) for s in specs]


def launch(demo, comparison, *args, **kwargs):
    """``ui.serve.launch`` with the project folder never served, and uvicorn told to trust no proxy
    (``FORWARDED_ALLOW_IPS``: its own rewrite would take X-Forwarded-For's leftmost entry, which a
    client writes itself; ``ui.viewers`` reads the header by ``--proxy-hops`` instead); ``make
    gpu-check``'s table (``bench/entry.sh`` runs it in the image) at ``/gpu-check``."""
    os.environ["FORWARDED_ALLOW_IPS"] = ""  # read by uvicorn when Gradio starts it: the peer stays the peer
    report = ROOT / "bench" / "results" / "gpu.md"
    return serve.launch(demo, comparison, *args, blocked=ROOT, gpu_report=report, **kwargs)


def build(specs, settings, video=None, **options):
    """``ui.serve.build`` with the shipped example gallery."""
    return serve.build(specs, settings, video, examples_dir=EXAMPLES_DIR, **options)


def votes_key(name: str, environ, flag: str = "--votes-key-env") -> str | None:
    """The key ``--votes-key-env`` (or ``flag``) names (None: none given); a variable that is not set
    stops the app with one sentence naming it (never its value)."""
    if not name:
        return None
    if not environ.get(name):
        sys.exit(f"{flag} {name}: the environment variable {name} is not set or empty.")
    return environ[name]


def open_store(args: argparse.Namespace):
    """The database ``--database`` names (SQLite in ``--data-dir`` by default), its schema migrated;
    one that cannot be opened stops the app with one sentence."""
    from inference.store.db import Store, shown_url, sqlite_url

    url = args.database or sqlite_url(args.data_dir)
    try:
        return Store(url)
    except Exception as err:  # a bad URL, a missing driver, an unreachable server, a read-only folder
        log.debug("store", exc_info=True)
        cause = getattr(err, "orig", None) or err  # the driver's own error, without SQLAlchemy's links
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0].rstrip(".")
        sys.exit(f"--database {shown_url(url)}: cannot open it ({first}).")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    specs = resolve_specs(args)
    if any(s.fork for s in specs):  # process-wide CPU settings, before torch is imported
        os.environ.update(CPU_PROCESS_ENV)

    from inference.deploy.limits import UserLimits
    from inference.inputs.chat import GenerationSettings
    from inference.inputs.media import VideoOptions
    from ui.preview import remove_scratch
    from ui.viewers import Identity

    video = VideoOptions(max_seconds=args.max_video_seconds, backend=args.video_backend)
    settings = GenerationSettings(max_tokens=args.max_tokens, ignore_eos=args.ignore_eos)
    limits = UserLimits(
        args.user_running, args.user_per_minute, address_per_minute=args.ip_per_minute, address_running=args.ip_running
    )
    secret = args.cookie_secret.encode() or secrets.token_bytes(32)  # random: viewers are new after a restart
    trust = {"trusted_proxies": args.trusted_proxies, "cookies_per_minute": args.ip_cookies_per_minute}
    identity = Identity(secret, proxy_hops=args.proxy_hops, **trust)
    options = {"stall_seconds": args.stall_seconds, "cache_hours": args.cache_hours, "max_queue": args.max_queue}
    store = open_store(args)
    options |= {"store": store, "blind": args.blind, "store_prompts": args.store_prompts, "share_days": args.share_days}
    options["max_tokens_cap"] = args.max_tokens  # the host's --max-tokens is the most a visitor may ask for
    options |= {"identity": identity, "log_prompts": args.log_prompts, "sign_in": args.hf_sign_in}
    demo, comparison = build(specs, settings, video, limits=limits, **options)
    pool = comparison.pool

    def terminate(signum, _frame):
        # Only unwind here: the engines shut down in the ``finally`` below, outside the handler
        # (starting threads inside a signal handler deadlocked once: the app ignored SIGTERM).
        for each in (signal.SIGTERM, signal.SIGINT):  # once; a second signal must not cut the shutdown
            signal.signal(each, signal.SIG_IGN)
        log.info("signal %s: shutting the engines down", signum)
        raise SystemExit(0)

    # Ctrl-C too: Gradio's block_thread catches KeyboardInterrupt and then waits for the server to
    # close, which open client connections can hold up (seen once in CI: no exit within 60 s)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    # ZeroGPU packs the weights already on "cuda" when the server launches: there, load them first
    zerogpu = any(getattr(e, "on_zerogpu", False) for e in pool.engines)
    served = {"max_sessions": args.max_sessions, "closed_session_seconds": args.closed_session_minutes * 60}
    served["votes_key"] = votes_key(args.votes_key_env, os.environ)
    served["metrics_key"] = votes_key(args.metrics_key_env, os.environ, "--metrics-key-env")
    if not zerogpu:
        launch(demo, comparison, args.host, args.port, args.max_file_size, store, args.share_days, **served)
    try:
        try:
            pool.start()
            log.info("engines ready in %.1f s", pool.start_seconds)
        except Exception:
            log.exception("an engine failed to start; the page shows the error")
        if zerogpu:
            launch(demo, comparison, args.host, args.port, args.max_file_size, store, args.share_days, **served)
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown()
        remove_scratch()
        os._exit(0)  # vLLM's finalizers print noise at interpreter exit; the engines are down


if __name__ == "__main__":
    main()
