"""The app's options: one frozen dataclass per concern, one field per option.

Contract: a field is the whole option: its type, default and help (``option(...)``, kept in the
field's metadata); its command-line flag and environment variable follow from its name
(``max_tokens``: ``--max-tokens``, ``DEMO_MAX_TOKENS``; ``flag(f)``, ``variable(f)``).
``inference.deploy.command_line`` generates the argparse parser, the variables' reading and the
options reference (``docs/options.md``) from these classes, and ``app.py`` hands the parsed
``Options`` down (``ui.serve.build``). Nothing here reads the command line or the environment.
Adding an option is adding a field here, and reading it where it is used.
"""

from __future__ import annotations

import ipaddress
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from inference.deploy.limits import UserLimits
from inference.engines.backends import BACKENDS
from inference.inputs.chat import GenerationSettings
from inference.inputs.media import VideoOptions
from inference.spec import BF16_MODEL, FP8_MODEL

ROOT = Path(__file__).resolve().parents[2]  # the checkout: app.py's folder
PREFIX = "DEMO_"  # every option --some-option can also be given as DEMO_SOME_OPTION
# Where a proxy in front of the app can be by default: loopback and the private networks (a Space's,
# Docker's or a cluster's proxy); a client on a public address is never taken for one.
PRIVATE = ("127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
IN_PROCESS = ", ".join(b for b in BACKENDS if b != "remote")  # a side given as a URL is "remote"


class OptionError(ValueError):
    """A bad option value, with one sentence for the host that names the flag or variable."""


def networks(text: str) -> tuple[str, ...]:
    """A comma-separated list of addresses or networks, each checked (``ValueError`` names a bad one)."""
    found = tuple(t.strip() for t in text.split(",") if t.strip())
    for t in found:
        ipaddress.ip_network(t, strict=False)
    return found


def option(default: Any, help: str, *, secret: bool = False, **how: Any) -> Any:
    """A field holding an option. ``how``: ``choices``, ``metavar``, ``minimum`` (and ``below``, the
    sentence for a smaller value), ``parse`` (text to value, for a field whose one string holds
    several), ``fallback`` (another variable read when the option's own is not set); ``secret``:
    left out of the options' ``repr`` (and so of logs)."""
    return field(default=default, repr=not secret, metadata={"help": help, **how})


def flag(f: Field[Any]) -> str:
    """A field's command-line flag: ``max_tokens`` → ``--max-tokens``."""
    return "--" + f.name.replace("_", "-")


def variable(f: Field[Any]) -> str:
    """A field's environment variable: ``max_tokens`` → ``DEMO_MAX_TOKENS``."""
    return str(f.metadata.get("variable") or PREFIX + f.name.upper())


@dataclass(frozen=True)
class ModelOptions:
    """What runs: the sides, their backends and where they are found."""

    device: str = option("auto", "auto: CUDA where nvidia-smi lists a GPU", choices=("auto", "cuda", "cpu"))
    model: tuple[str, ...] = option(
        (),
        "a side as label=model id, path or an OpenAI-compatible server's URL (…/v1) (repeat for each side); "
        "default: the FP8/BF16 pair",
        metavar="LABEL=MODEL",
    )
    backend: tuple[str, ...] = option(
        (),
        f"what runs the in-process sides: {IN_PROCESS} (vllm by default), for all of them or one label (repeat); "
        "a side given as a URL always runs on its server",
        metavar="[LABEL=]NAME",
    )
    api_key_env: tuple[str, ...] = option(
        (),
        "a side served by a URL sends the key held in this environment variable (repeat per side; the key "
        "itself never goes on the command line)",
        metavar="LABEL=VARIABLE",
    )
    fp8_model: str = option(FP8_MODEL, "GPU pair: FP8 side")
    bf16_model: str = option(BF16_MODEL, "GPU pair: BF16 side")
    tiny_dir: Path = option(ROOT / ".cache" / "tiny", "where `make tiny` wrote the CPU pair")


@dataclass(frozen=True)
class GenerationOptions:
    """What a turn starts with: the page's settings and the inputs it accepts."""

    max_tokens: int = option(256, "new tokens per answer: the slider's start and its maximum")
    system_prompt: str = option("", "the system prompt the page starts with (a visitor may change it)")
    ignore_eos: bool = option(False, "for load tests and benchmarks: every answer runs to max tokens")
    max_video_seconds: float = option(600.0, "longer uploads are refused")
    video_backend: str = option("pyav", "video decoder", choices=("pyav", "decord", "opencv"))
    stall_seconds: float | None = option(120.0, "a side that produces nothing this long is stopped")

    def settings(self) -> GenerationSettings:
        """The settings the page starts with (the same for every side)."""
        return GenerationSettings(max_tokens=self.max_tokens, ignore_eos=self.ignore_eos, system=self.system_prompt)

    def video(self) -> VideoOptions:
        return VideoOptions(max_seconds=self.max_video_seconds, backend=self.video_backend)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LimitOptions:
    """How much the demo takes: uploads, waiting turns, sessions, each user and each address."""

    max_file_size: str = option("500mb", "larger uploads are refused by the server")
    cache_hours: float | None = option(24.0, "uploads and other served files older than this are deleted")
    max_queue: int = option(
        0,
        "turns that may wait for a free slot before users are told the demo is busy "
        "(0: 4 x the engines' batch size, max_num_seqs)",
    )
    max_sessions: int = option(
        1000, "browser sessions (conversations) kept in memory; the least recently used go first", minimum=1
    )
    closed_session_minutes: float | None = option(
        60.0, "a closed tab's conversation is forgotten this long after its last turn", minimum=0
    )
    user_running: int = option(4, "turns one user may have answered at once; 0: no limit")
    user_per_minute: int = option(30, "turns one user may send per minute; 0: no limit")
    ip_per_minute: int = option(
        0,
        "turns one network address may send per minute, all its users together (a flood limit); 0: none",
    )
    ip_running: int = option(
        16,
        "turns one network address may have answered at once, all its users together (a ceiling fresh "
        "cookies cannot multiply); 0: none",
    )
    ip_cookies_per_minute: int = option(
        30,
        "new viewer cookies one network address may get a minute (a room loads the page at human pace, a "
        "script in a burst); beyond it a page load gets none and is its address; 0: no limit",
    )

    def user_limits(self) -> UserLimits:
        """The per-user and per-address turn limits (``inference.deploy.limits``)."""
        return UserLimits(self.user_running, self.user_per_minute, self.ip_per_minute, self.ip_running)


@dataclass(frozen=True)
class NetworkOptions:
    """Where the page is served and how its visitors are told apart."""

    host: str = option("127.0.0.1", "address to serve on", fallback="GRADIO_SERVER_NAME")
    port: int = option(7860, "port to serve on", fallback="GRADIO_SERVER_PORT")
    trusted_proxies: tuple[str, ...] = option(
        PRIVATE,
        "comma-separated addresses or networks of the proxies in front: X-Forwarded-For is read "
        "(--proxy-hops deep) only on connections from them",
        parse=networks,
    )
    proxy_hops: int = option(
        0,
        "trusted proxies in front of the app: a client's address is X-Forwarded-For's entry this many from "
        "the right (0: the connection's peer)",
        minimum=0,
        below="say how many proxies, 0 or more",
    )
    cookie_secret: str = option(
        "",
        "signs the viewer cookie that tells browsers apart (set it as a Space secret); empty: a random one "
        "per start, and viewers are new after each restart",
        secret=True,
    )
    hf_sign_in: bool = option(
        False,
        "a Hugging Face sign-in button (Gradio's OAuth; a Space also needs hf_oauth: true in its README's "
        "front matter): a signed-in person is one user in every browser",
    )
    metrics_key_env: str = option(
        "",
        "/metrics answers requests with the key this environment variable holds (Authorization: Bearer KEY); "
        "unset: only clients on this machine that came through no proxy",
        metavar="VARIABLE",
    )
    log_prompts: bool = option(False, "the per-turn log line also shows the prompt and file names")


@dataclass(frozen=True)
class StorageOptions:
    """What the demo keeps: votes and shared comparisons, and the blind test that collects votes."""

    data_dir: Path = option(ROOT / "data", "what the app keeps: the default SQLite database")
    database: str = option(
        "",
        "votes and shared comparisons: an SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db for "
        "several replicas (default: SQLite in --data-dir)",
    )
    blind: bool = option(False, "open on the blind test (a showcase screen)")
    store_prompts: bool = option(False, "keep each blind turn's prompt text with its vote")
    share_days: float = option(30.0, "shared comparisons expire after this many days")
    votes_key_env: str = option(
        "",
        "the host downloads every blind vote as CSV at /votes.csv with the key this environment variable holds "
        "(Authorization: Bearer KEY); unset: no download",
        metavar="VARIABLE",
    )


@dataclass(frozen=True)
class Options:
    """Every option of the app, by concern (each a frozen dataclass above)."""

    models: ModelOptions = ModelOptions()
    generation: GenerationOptions = GenerationOptions()
    limits: LimitOptions = LimitOptions()
    network: NetworkOptions = NetworkOptions()
    storage: StorageOptions = StorageOptions()


def concerns() -> list[tuple[str, type]]:
    """``Options``' parts in order: (attribute, class)."""
    hints = get_type_hints(Options)
    return [(f.name, hints[f.name]) for f in fields(Options)]
