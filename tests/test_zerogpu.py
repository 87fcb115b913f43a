"""On a ZeroGPU Space the transformers backend runs its GPU work inside ``spaces.GPU``.

``spaces`` only acts on a real ZeroGPU Space (it needs the Space's scheduler), so this test puts a
stand-in ``spaces`` package on the path that behaves as the real one's generator wrapper does: it
asks the ``duration`` callable for the request's GPU time, pickles the arguments across to the GPU
worker and the results back, and closes the task's generator when its consumer goes away.
Everything else (engine, checkpoint, processor, generate) is real.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
from dataclasses import replace

import pytest

from inference.inputs.chat import GenerationSettings, UserTurn, prepare
from inference.spec import cpu_pair

pytestmark = pytest.mark.engine

FAKE = """
import pickle

calls = []


def GPU(task=None, *, duration=None, size=None):
    def gradio_handler(*args, **kwargs):
        calls.append(duration(*args, **kwargs))
        args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))  # to the GPU worker
        gen = task(*args, **kwargs)
        try:
            for item in gen:
                yield pickle.loads(pickle.dumps(item))  # and back
        finally:
            gen.close()

    return gradio_handler
"""


@pytest.fixture
def fake_spaces(tmp_path, monkeypatch):
    """Swap the installed ``spaces`` for the stand-in while a test runs (Gradio imports the real one)."""
    real = {n: m for n, m in sys.modules.items() if n == "spaces" or n.startswith("spaces.")}

    def install(zero_gpu: bool):
        package = tmp_path / "spaces"
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(FAKE))
        (package / "config.py").write_text(f"class Config:\n    zero_gpu = {zero_gpu}\n")
        for name in real:
            del sys.modules[name]
        monkeypatch.syspath_prepend(str(tmp_path))
        return importlib.import_module("spaces")

    yield install
    for name in [n for n in sys.modules if n == "spaces" or n.startswith("spaces.")]:
        del sys.modules[name]
    sys.modules.update(real)


def test_off_zerogpu_the_installed_spaces_leaves_the_work_in_process(monkeypatch):
    from inference.engines.zerogpu import zerogpu

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def task():
        yield 1

    assert zerogpu(task, lambda: 1) == (task, False)


async def test_on_zerogpu_each_request_goes_through_spaces_gpu(fake_spaces, tiny_dir):
    from inference.engines.hf_engine import TransformersEngine
    from inference.engines.zerogpu import ZEROGPU_PER_TOKEN, ZEROGPU_SECONDS

    spaces = fake_spaces(zero_gpu=True)
    engine = TransformersEngine(replace(cpu_pair(tiny_dir)[1], backend="transformers"))
    assert engine.on_zerogpu
    engine.start()
    try:
        await engine.warm_up()
        assert spaces.calls == []  # no GPU is held at start-up
        settings = GenerationSettings(max_tokens=8, ignore_eos=True)
        chunks = [c async for c in engine.stream(prepare([UserTurn("Hi")]), [], settings)]
        assert sum(c.tokens for c in chunks) == 8 and chunks[-1].finish_reason == "length"
        assert spaces.calls == [ZEROGPU_SECONDS + ZEROGPU_PER_TOKEN * 8]
        # a consumer that leaves early closes the GPU generator, which stops generate
        long = GenerationSettings(max_tokens=4000, ignore_eos=True)
        stream = engine.stream(prepare([UserTurn("Hi")]), [], long)
        await anext(stream)
        await stream.aclose()
        for _ in range(500):
            if engine.num_unfinished_requests() == 0 and not await engine.has_work():
                break
            await asyncio.sleep(0.02)
        assert engine.num_unfinished_requests() == 0 and not await engine.has_work()
    finally:
        engine.shutdown()
