"""A side on a real ``vllm serve`` of the tiny BF16 checkpoint (started with an API key), next to the
in-process engine; and the same server behind a stand-in for a server that is not vLLM."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import httpx
import pytest

from inference.compare.metrics import Chunk
from inference.deploy import cpu_server
from inference.deploy.processes import stop_group
from inference.engines.pool import EnginePool
from inference.engines.remote import RemoteEngine
from inference.engines.remote_wire import chat_request, metric
from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.inputs.media import VideoOptions
from inference.spec import CPU_KV_BYTES, ModelSpec, cpu_spec
from tests.helpers import media_factory
from tests.helpers.openai_proxy import OPENAI_CHAT_FIELDS, strict_openai
from tests.helpers.servers import free_port, serve
from tests.helpers.streams import collect

pytestmark = pytest.mark.engine

SHORT = GenerationSettings(max_tokens=24, ignore_eos=True)
LONG = GenerationSettings(max_tokens=4000, ignore_eos=True)
KV_BYTES = CPU_KV_BYTES  # the server's (``inference.deploy.cpu_server.cpu_server_args``)
KEY = "sk-test-key-for-the-tiny-server"  # what the server is started with (``--api-key``)


def remote_spec(url: str, key: str | None = KEY) -> ModelSpec:
    """What ``app.py --model BF16=URL --api-key-env BF16=VARIABLE`` builds."""
    from inference.deploy.sides import remote_spec as spec

    return replace(spec("BF16", url), api_key=key)


@pytest.fixture(scope="module")
def launched(tiny_dir, tmp_path_factory):
    """``vllm serve`` of the tiny BF16 checkpoint on a free port with the CPU settings (core 1), its
    EngineCore forked (``inference.deploy.cpu_server``), started but not yet healthy; its whole
    process group killed at the end: yields (process, port, log)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "vllm-serve.log"
    extra = ("--trust-request-mm-kwargs", "--api-key", KEY)
    command, env = cpu_server.server(str(tiny_dir / "bf16"), port, *extra, cpu_core=1)
    process = cpu_server.launch(command, env, log)
    try:
        yield process, port, log
    finally:
        stop_group(process)


@pytest.fixture(scope="module")
def server(launched):
    """The server, healthy: its base URL (…/v1)."""
    process, port, log = launched
    try:
        cpu_server.healthy(process, port, log)
    except RuntimeError as e:
        pytest.fail(f"{e}:\n{log.read_text()[-3000:]}")
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def remote(server):
    engine = RemoteEngine(remote_spec(server))
    engine.start()
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def local(tiny_dir, launched):
    """The same checkpoint in process (core 0; the server has core 1), started while the server starts."""
    pool = EnginePool([cpu_spec("BF16", str(tiny_dir / "bf16"), core=0, kv_cache_bytes=KV_BYTES, tiny=True)])
    try:
        pool.start()
        yield pool.engines[0]
    finally:
        pool.shutdown()


async def _running(engine: RemoteEngine) -> float:
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"{engine.base}/metrics")).text
    return metric(page, "vllm:num_requests_running") or 0


def test_start_asks_the_server_for_model_context_and_kv_cache(local, remote, tiny_dir):  # local first: see ``local``
    assert remote.alive and remote.spec.backend == "remote"
    assert remote.spec.model.endswith("tiny/bf16")
    assert remote.spec.title.startswith("BF16 · tiny/bf16 (server 127.0.0.1:")
    assert remote.spec.engine_args["max_model_len"] == 8192
    assert remote.footprint.weight_bytes is None and remote.footprint.kv_tokens > 8192
    assert remote.footprint.kv_tokens == local.footprint.kv_tokens  # vLLM's own count, as in process


async def test_text_turn_counts_tokens_as_the_server_does(remote):
    chunks = await collect(remote.stream(prepare([UserTurn("Hello there")]), [], SHORT))
    usage = remote.last_usage
    assert len([c for c in chunks if c.text]) >= 5
    assert sum(c.tokens for c in chunks) == usage["completion_tokens"] == SHORT.max_tokens
    assert chunks[0].prompt_tokens == usage["prompt_tokens"] and chunks[0].visual_tokens == 0
    assert sum(len(c.token_ids) for c in chunks) == sum(len(c.logprobs) for c in chunks) == SHORT.max_tokens
    assert all(lp <= 0 for c in chunks for lp in c.logprobs)
    assert chunks[-1].finish_reason == "length"


async def test_greedy_answer_equals_the_in_process_engine(remote, local):
    prepared = prepare([UserTurn("Name three colours.")])
    settings = GenerationSettings(max_tokens=32, ignore_eos=True, system="Be brief.")
    there = await collect(remote.stream(prepared, [], settings))
    here = await collect(local.stream(prepared, [], settings))
    ids = [t for c in there for t in c.token_ids]
    assert len(ids) == 32 and ids == [t for c in here for t in c.token_ids]
    assert there[0].prompt_tokens == here[0].prompt_tokens == remote.prompt_tokens(prepared, [], settings)
    assert remote.decode(ids) == local.decode(ids) == "".join(c.text for c in here)


async def test_image_turn_gets_the_in_process_pixels_and_tokens(remote, local, media):
    prepared = prepare([UserTurn("What is in this picture?", (str(media["image"]),))])
    there = await collect(remote.stream(prepared, [], SHORT))
    here = await collect(local.stream(prepared, [], SHORT))
    # 448x336 is under Qwen's 256-token floor: 608x448 -> 266 tokens, on both sides
    assert there[0].visual_tokens == here[0].visual_tokens == prepared.visual_tokens == 266
    assert there[0].prompt_tokens == here[0].prompt_tokens == remote.prompt_tokens(prepared, [], SHORT)
    # the image travels as PNG (lossless): the greedy answers agree token for token
    assert [t for c in there for t in c.token_ids] == [t for c in here for t in c.token_ids]


async def test_video_turn_gets_the_in_process_frames_and_timestamps(remote, local, tmp_path):
    # 12 s at 10 fps sampled at 4 fps, at most 40 frames: more than the 32 the server keeps by default
    clip = media_factory.moving_square_video(tmp_path, seconds=12)
    prepared = prepare([UserTurn("What moves?", (str(clip),))], VideoOptions(fps=4, max_frames=40))
    there = await collect(remote.stream(prepared, [], SHORT))
    here = await collect(local.stream(prepared, [], SHORT))
    assert prepared.plans[0].plan.frames == 40 and sum(c.tokens for c in there) == SHORT.max_tokens
    assert there[0].visual_tokens == here[0].visual_tokens == prepared.visual_tokens
    assert there[0].prompt_tokens == here[0].prompt_tokens
    # the server's prompt marks each temporal patch with the in-process frame times
    body = {**chat_request(remote.spec.model, prepared, [], SHORT), "stream": False, "max_tokens": 1}
    del body["stream_options"]
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as client:
        reply = (await client.post(f"{remote.url}/chat/completions", json=body)).json()
    prompt = remote.decode(reply["prompt_token_ids"])
    seconds = prepared.plans[0].seconds
    stamps = [f"<{(a + b) / 2:.1f} seconds>" for a, b in zip(seconds[::2], seconds[1::2], strict=True)]
    assert re.findall(r"<[\d.]+ seconds>", prompt) == stamps


async def test_history_with_media_is_resent(remote, media):
    turns = [UserTurn("Describe", (str(media["image"]),)), UserTurn("And now this?", (str(media["video"]),))]
    prepared = prepare(turns)
    chunks = await collect(remote.stream(prepared, ["an earlier answer"], SHORT))
    assert chunks[0].visual_tokens == prepared.visual_tokens and sum(c.tokens for c in chunks) == SHORT.max_tokens


async def test_cancel_mid_stream_aborts_on_the_server(remote):
    got: list[Chunk] = []

    async def consume():
        async for chunk in remote.stream(prepare([UserTurn("Talk for a long time.")]), [], LONG):
            got.append(chunk)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.01)
        assert not task.done()
    assert remote.num_unfinished_requests() == 1 and await _running(remote) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert remote.num_unfinished_requests() == 0
    for _ in range(100):
        if await _running(remote) == 0 and not await remote.has_work():
            break
        await asyncio.sleep(0.05)
    assert await _running(remote) == 0 and not await remote.has_work()
    assert len(got) < 1000  # it stopped long before max_tokens


async def test_server_refusal_reaches_the_user_with_its_message(remote):
    with pytest.raises(DemoError, match=r"BF16: the server refused the request: .*max_tokens"):
        await collect(remote.stream(prepare([UserTurn("Hi")]), [], GenerationSettings(max_tokens=9000)))
    assert remote.alive  # the server answered: nothing to restart


def test_unreachable_url_is_a_clear_error_at_start():
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = RemoteEngine(remote_spec(url))
    with pytest.raises(DemoError, match=f"BF16: cannot reach the server at {url}"):
        engine.start()
    assert not engine.alive


async def test_lost_server_marks_the_side_dead_and_restart_finds_it_again(server):
    engine = RemoteEngine(remote_spec(server))
    await asyncio.to_thread(engine.start)
    engine.url = f"http://127.0.0.1:{free_port()}/v1"  # the server "goes away"
    with pytest.raises(DemoError, match="lost the server"):
        await collect(engine.stream(prepare([UserTurn("Hi")]), [], SHORT))
    assert engine.started and not engine.alive
    with pytest.raises(DemoError, match="not answering"):
        await collect(engine.stream(prepare([UserTurn("Hi")]), [], SHORT))
    engine.url = server  # … and comes back
    await asyncio.to_thread(engine.restart)
    assert engine.alive and engine.restarts == 1
    assert sum(c.tokens for c in await collect(engine.stream(prepare([UserTurn("Hi")]), [], SHORT))) == 24


async def test_without_a_tokenizer_here_the_server_counts_the_prompt(remote, media):
    bare = RemoteEngine(remote.spec)
    bare.start()
    bare._tokenizer = None  # as for a server whose model this machine cannot load
    for turn in (UserTurn("Hello there"), UserTurn("What is this?", (str(media["image"]),))):
        prepared = prepare([turn])
        assert bare.prompt_tokens(prepared, [], SHORT) == remote.prompt_tokens(prepared, [], SHORT)
    chunks = await collect(bare.stream(prepare([UserTurn("Hi")]), [], SHORT))
    assert len(bare.decode([t for c in chunks for t in c.token_ids])) > 0


def test_app_with_one_remote_side_answers_on_both(server, tiny_dir, media):
    from gradio_client import Client, handle_file

    specs = [cpu_spec("FP8", str(tiny_dir / "fp8"), core=0, kv_cache_bytes=KV_BYTES, tiny=True), remote_spec(server)]
    specs[1] = replace(specs[1], reference=True)
    with serve(specs, GenerationSettings(max_tokens=16, ignore_eos=True)) as (url, comparison):
        assert comparison.context == 8192  # the server's, learned at start
        client = Client(url, download_files=False, verbose=False)
        status, _box, _timer = client.predict(api_name="/poll")
        assert status.startswith("✅")
        message = {"text": "What is this?", "files": [handle_file(str(media["image"]))]}
        update = client.predict(message, api_name="/respond")
        panes, metrics = update[1:3], update[3:5]
        for pane, line in zip(panes, metrics, strict=True):
            assert [m for m in pane if m["role"] == "assistant"], pane
            assert "16 tokens" in line and "(266 visual" in line, line
        assert "BF16 · tiny/bf16" in comparison.pool.engines[1].spec.title


def test_a_server_with_a_key_refuses_a_side_without_it_in_one_sentence(server):
    hints = (
        (None, r"Give the server's key with --api-key-env BF16=VARIABLE\."),
        ("sk-wrong", "The key .* was refused"),
    )
    for key, hint in hints:
        engine = RemoteEngine(remote_spec(server, key))
        with pytest.raises(DemoError, match=rf"BF16: {server}/models answered 401: Unauthorized\. {hint}") as err:
            engine.start()
        assert not engine.alive and "sk-wrong" not in str(err.value)


@pytest.fixture(scope="module")
def other(server):
    """The tiny server behind a stand-in for an OpenAI-compatible server that is not vLLM (its own key)."""
    with strict_openai(server, "sk-other", upstream_key=KEY) as (url, seen):
        engine = RemoteEngine(remote_spec(url, "sk-other"))
        engine.start()
        yield engine, seen
        engine.shutdown()


def test_a_server_that_is_not_vllm_is_found_out_and_says_what_it_cannot_show(other):
    engine, _ = other
    assert engine.alive and not engine.vllm
    assert engine.spec.model.endswith("tiny/bf16") and "max_model_len" not in engine.spec.engine_args
    assert engine.footprint.kv_tokens is None
    pool = EnginePool([engine.spec])
    pool.start()
    pool.shutdown()
    assert "BF16's server is not vLLM: it cannot show token ids (no divergence figures)" in pool.status.message
    assert "videos" in pool.status.message


async def test_a_server_that_is_not_vllm_answers_text_and_images_with_standard_requests(other, media):
    engine, seen = other
    for turn in (UserTurn("Hello there"), UserTurn("What is this?", (str(media["image"]),))):
        seen.clear()
        prepared = prepare([turn])
        chunks = await collect(engine.stream(prepared, [], SHORT))
        assert set(seen[0]) <= OPENAI_CHAT_FIELDS  # the stand-in refuses anything else with 400
        assert "".join(c.text for c in chunks) and all(c.token_ids == () for c in chunks)
        count = sum(c.tokens for c in chunks)
        assert 1 <= count <= SHORT.max_tokens and count == sum(len(c.logprobs) for c in chunks)
        assert engine.prompt_tokens(prepared, [], SHORT) >= engine.last_usage["prompt_tokens"] - 64  # an upper bound
    assert await engine.has_work() is False


async def test_a_video_for_a_server_that_is_not_vllm_is_refused_in_one_sentence(other, media):
    engine, seen = other
    seen.clear()
    prepared = prepare([UserTurn("What happens?", (str(media["video"]),))])
    refused = r"BF16: the server at .* is not vLLM and takes text and images only, not videos"
    with pytest.raises(DemoError, match=refused):
        await collect(engine.stream(prepared, [], SHORT))
    assert seen == [] and engine.alive  # nothing was sent


def test_the_cpu_server_is_given_the_engine_arguments_the_app_gives_its_own_engines():
    """vLLM's own parser reads the CPU server's flags back into the engine arguments of ``cpu_spec``."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = AsyncEngineArgs.add_cli_args(FlexibleArgumentParser())
    parsed = vars(parser.parse_args(cpu_server.cpu_server_args()))
    spec = cpu_spec("BF16", "m", core=0, kv_cache_bytes=CPU_KV_BYTES)
    assert {name: parsed[name] for name in spec.engine_args} == spec.engine_args


def test_the_cpu_servers_engine_core_forks_from_a_frozen_heap_and_the_server_gets_it_back(monkeypatch):
    """The server's engine start (where its EngineCore forks) runs inside the app's ``forking``: the
    server's objects are frozen while it forks and unfrozen once the start returns (the stand-in for
    ``AsyncLLM.from_vllm_config`` reads the freeze count when called)."""
    import gc

    from vllm.platforms.cpu import CpuPlatform
    from vllm.v1.engine.async_llm import AsyncLLM

    seen = []

    def stand_in(cls, vllm_config, **kwargs):
        seen.append(gc.get_freeze_count())
        return "the engine"

    before = gc.get_freeze_count()  # an interpreter may start with a few objects frozen
    monkeypatch.setattr(AsyncLLM, "from_vllm_config", classmethod(stand_in))
    monkeypatch.setattr(CpuPlatform, "check_and_update_config", vars(CpuPlatform)["check_and_update_config"])
    cpu_server.fork_engine_core()
    assert AsyncLLM.from_vllm_config("config", start_engine_loop=True) == "the engine"
    assert seen[0] > before and gc.get_freeze_count() == 0
