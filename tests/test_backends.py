"""Every backend keeps the backend contract (``inference.engines.base``): the names the pool, the
page and the evaluation use are there, and the shared state starts and restarts alike."""

from __future__ import annotations

import inspect

import pytest

from inference.engines.backends import BACKENDS, backend_class, make_engine
from inference.engines.base import Backend, EngineBase
from inference.engines.fake import FakeFastEngine
from inference.errors import DemoError
from inference.spec import ModelSpec

CONTRACT = sorted(n for n in dir(Backend) if not n.startswith("_")) + sorted(inspect.get_annotations(Backend))


def spec(backend: str) -> ModelSpec:
    return ModelSpec("X", "/nowhere/x", backend=backend, endpoint="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_satisfies_the_contract_before_it_starts(name):
    engine = make_engine(spec(name))
    assert isinstance(engine, Backend), [n for n in CONTRACT if not hasattr(engine, n)]
    assert isinstance(engine, EngineBase)
    assert not engine.started and not engine.alive and engine.restarts == 0 and not engine.restarting
    assert engine.footprint.weight_bytes is None and engine.num_unfinished_requests() == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_implements_every_abstract_method(name):
    cls = backend_class(name)
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)
    for method in ("stream", "warm_up", "score", "has_work"):  # async where the contract says so
        fn = getattr(cls, method)
        assert inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn), method


def test_the_contract_names_what_the_pool_and_page_use():
    assert {"start", "restart", "shutdown", "stream", "warm_up", "score", "prompt_tokens", "decode"} <= set(CONTRACT)
    assert {"started", "alive", "num_unfinished_requests", "has_work"} <= set(CONTRACT)
    assert {"spec", "footprint", "kv_usage", "restarting", "restarts"} <= set(CONTRACT)


def test_the_fake_engine_keeps_the_contract_too():
    assert isinstance(FakeFastEngine(spec("vllm")), Backend)


async def test_a_backend_that_cannot_score_says_so():
    engine = make_engine(spec("remote"))
    with pytest.raises(DemoError, match="does not score"):
        await engine.score(None, [], None, [1, 2])


def test_restart_stops_starts_and_counts_once():
    calls = []

    class Recorder(FakeFastEngine):
        def start(self):
            calls.append(("start", self.restarting))
            super().start()

        def _stop(self):
            calls.append(("stop", self.restarting))

    engine = Recorder(spec("vllm"))
    engine.start()
    engine.kv_usage = 0.5
    engine.restart()
    assert calls == [("start", False), ("stop", True), ("start", True)]
    assert engine.restarts == 1 and not engine.restarting and engine.kv_usage is None


def test_a_failed_restart_is_not_counted_and_ends_restarting():
    class Failing(FakeFastEngine):
        def start(self):
            raise DemoError("no")

    engine = Failing(spec("vllm"))
    with pytest.raises(DemoError):
        engine.restart()
    assert engine.restarts == 0 and not engine.restarting
