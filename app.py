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

import logging
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no outside connections

from inference.deploy import command_line, processes, sides
from inference.deploy.options import OptionError, Options
from inference.spec import CPU_PROCESS_ENV, ModelSpec
from ui import serve

log = logging.getLogger("app")
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"  # written by `python -m inference.inputs.samples --out examples`


def parse_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> Options:
    """The options (``inference.deploy.options``) from the command line and the ``DEMO_*``
    variables (a Space is configured by its variables); the command line wins over the environment.
    A bad value stops the app with one sentence naming it."""
    try:
        return command_line.parse(sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ)
    except OptionError as err:
        sys.exit(str(err))


def environment_names() -> set[str]:
    """Every environment variable the command line reads."""
    return command_line.variables()


def resolve_specs(options: Options) -> list[ModelSpec]:
    """The sides to run (``inference.deploy.sides``); a wrong choice stops the app with one sentence."""
    try:
        return sides.resolve_specs(options.models, os.environ)
    except OptionError as err:
        sys.exit(str(err))


def launch(page: serve.Page, **kwargs):
    """``ui.serve.launch`` with the project folder never served, and uvicorn told to trust no proxy
    (``FORWARDED_ALLOW_IPS``: its own rewrite would take X-Forwarded-For's leftmost entry, which a
    client writes itself; ``ui.viewers`` reads the header by ``--proxy-hops`` instead); ``make
    gpu-check``'s table (``bench/entry.sh`` runs it in the image) at ``/gpu-check``."""
    os.environ["FORWARDED_ALLOW_IPS"] = ""  # read by uvicorn when Gradio starts it: the peer stays the peer
    report = ROOT / "bench" / "results" / "gpu.md"
    return serve.launch(page, blocked=ROOT, gpu_report=report, **kwargs)


def start_engines(pool) -> None:
    """``pool.start()``, then this process's large freed blocks go back to the system
    (``processes.free_large_blocks``): after the engines have forked, so that their EngineCores keep
    glibc's default, under which a prefill's large temporaries reuse heap pages (with the threshold
    fixed, each one is mapped and faulted in anew: the FP8 kernel's per-layer work at 700 prompt
    tokens took 3x as long), while the app's decoded media leave its process once freed. Not where
    transformers runs a model in this process."""
    pool.start()
    if all(e.spec.backend != "transformers" for e in pool.engines):  # no model computes in this process
        processes.free_large_blocks()


def build(specs: list[ModelSpec], options: Options = Options(), **kwargs) -> serve.Page:
    """``ui.serve.build`` with the shipped example gallery."""
    return serve.build(specs, options, examples_dir=EXAMPLES_DIR, **kwargs)


def votes_key(name: str, environ, flag: str = "--votes-key-env") -> str | None:
    """The key ``--votes-key-env`` (or ``flag``) names (None: none given); a variable that is not set
    stops the app with one sentence naming it (never its value)."""
    if not name:
        return None
    if not environ.get(name):
        sys.exit(f"{flag} {name}: the environment variable {name} is not set or empty.")
    return environ[name]


def open_store(options: Options):
    """The database ``--database`` names (SQLite in ``--data-dir`` by default), its schema migrated;
    one that cannot be opened stops the app with one sentence."""
    from inference.store.db import Store, shown_url, sqlite_url

    url = options.storage.database or sqlite_url(options.storage.data_dir)
    try:
        return Store(url)
    except Exception as err:  # a bad URL, a missing driver, an unreachable server, a read-only folder
        log.debug("store", exc_info=True)
        cause = getattr(err, "orig", None) or err  # the driver's own error, without SQLAlchemy's links
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0].rstrip(".")
        sys.exit(f"--database {shown_url(url)}: cannot open it ({first}).")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options = parse_args(argv)
    specs = resolve_specs(options)
    if any(s.fork for s in specs):  # process-wide CPU settings, before torch is imported
        os.environ.update(CPU_PROCESS_ENV)

    from ui.preview import remove_scratch

    page = build(specs, options, store=open_store(options))
    pool = page.comparison.pool

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
    served = {"votes_key": votes_key(options.storage.votes_key_env, os.environ)}
    served["metrics_key"] = votes_key(options.network.metrics_key_env, os.environ, "--metrics-key-env")
    if not zerogpu:
        launch(page, **served)
    try:
        try:
            start_engines(pool)
            log.info("engines ready in %.1f s", pool.start_seconds)
        except Exception:
            log.exception("an engine failed to start; the page shows the error")
        if zerogpu:
            launch(page, **served)
        page.demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown()
        remove_scratch()
        os._exit(0)  # vLLM's finalizers print noise at interpreter exit; the engines are down


if __name__ == "__main__":
    main()
