"""Every backend keeps the engine contract (``inference.engines.base.Backend``, an ABC that mypy also
checks in ``make lint``): the names the pool, the page and the evaluation use are there, the ones
the contract says are async are, and the shared state starts and restarts alike."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from functools import partial

import pytest

from inference.engines.backends import BACKENDS, make_engine
from inference.engines.base import Backend
from inference.engines.fake import FakeFastEngine
from inference.engines.pool import EnginePool
from inference.errors import DemoError
from inference.spec import ModelSpec
from tests.helpers.imports import project_modules

# the contract's public methods and properties, and the fields ``Backend.__init__`` sets
FIELDS = (
    "spec",
    "footprint",
    "kv_usage",
    "restarting",
    "closed",
    "restarts",
    "cannot_show",
    "on_zerogpu",
    "collectors",
)
CONTRACT = sorted(n for n in dir(Backend) if not n.startswith("_")) + list(FIELDS)


def spec(backend: str) -> ModelSpec:
    return ModelSpec("X", "/nowhere/x", backend=backend, endpoint="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_satisfies_the_contract_before_it_starts(name):
    engine = make_engine(spec(name))
    assert isinstance(engine, BACKENDS[name]) and isinstance(engine, Backend)
    assert all(hasattr(engine, n) for n in CONTRACT), [n for n in CONTRACT if not hasattr(engine, n)]
    assert not engine.started and not engine.alive and engine.restarts == 0 and not engine.restarting
    assert engine.footprint.weight_bytes is None and engine.num_unfinished_requests() == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_implements_every_abstract_method(name):
    cls = BACKENDS[name]
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)
    for method in ("stream", "warm_up", "score", "has_work"):  # async where the contract says so
        fn = getattr(cls, method)
        assert inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn), method


def test_the_contract_names_what_the_pool_and_page_use():
    assert {"start", "restart", "shutdown", "stream", "warm_up", "score", "prompt_tokens", "decode"} <= set(CONTRACT)
    assert {"started", "alive", "num_unfinished_requests", "has_work"} <= set(CONTRACT)
    assert {"spec", "footprint", "kv_usage", "restarting", "restarts"} <= set(CONTRACT)


def test_the_contract_is_one_abstract_class_with_every_public_name_documented():
    assert inspect.isabstract(Backend)
    assert {"start", "stream", "warm_up", "prompt_tokens", "decode", "has_work", "started", "alive"} <= set(
        Backend.__abstractmethods__
    )
    undocumented = [n for n in dir(Backend) if not n.startswith("_") and not inspect.getdoc(getattr(Backend, n))]
    assert not undocumented


def test_an_unknown_backend_is_refused_naming_the_known_ones():
    with pytest.raises(DemoError, match="unknown backend 'tpu'; known: vllm, remote, transformers"):
        make_engine(spec("tpu"))


def test_the_fake_engine_implements_the_contract_directly():
    """A fake of the contract, not of vLLM's engine: nothing of ``vllm_engine`` is inherited."""
    from inference.engines.vllm_engine import Engine

    engine = FakeFastEngine(spec("vllm"))
    assert isinstance(engine, Backend) and not isinstance(engine, Engine)
    assert not inspect.isabstract(FakeFastEngine)
    engine.start()
    assert engine.started and engine.alive
    engine.shutdown()
    assert engine.closed and not engine.alive


def test_a_pool_builds_its_engines_through_the_factory_it_is_given():
    specs = [spec("vllm"), replace(spec("vllm"), label="Y")]
    pool = EnginePool(specs, make=partial(FakeFastEngine, rate=10.0))
    assert [type(e) for e in pool.engines] == [FakeFastEngine, FakeFastEngine]
    assert [e.spec for e in pool.engines] == pool.specs == specs
    assert [e.rate for e in pool.engines if isinstance(e, FakeFastEngine)] == [10.0, 10.0]
    assert [type(e) for e in EnginePool(specs).engines] == [BACKENDS["vllm"]] * 2  # the default: the registry


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


def test_no_code_swaps_a_pools_engines_after_it_is_built():
    """Fakes come in through the pool's constructor (``EnginePool(specs, make=...)``, or
    ``app.build(..., make_engine=...)``): nothing assigns to an ``engines`` attribute or item."""

    def swaps(target: ast.expr) -> bool:
        if isinstance(target, ast.Subscript):
            target = target.value
        return isinstance(target, ast.Attribute) and target.attr == "engines"

    found = []
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            found += [f"{module}:{node.lineno}" for t in targets if swaps(t)]
    assert [f.rsplit(":", 1)[0] for f in found] == ["inference.engines.pool"], found  # its constructor only


def test_forking_freezes_this_processs_heap_until_the_last_overlapping_start_leaves():
    """An EngineCore forked inside ``forking`` inherits this process's objects frozen (its start-up
    collections skip them); this process gets its heap back unfrozen, even after a failed start."""
    import gc
    import threading

    from inference.engines.vllm_engine import forking

    before = gc.get_freeze_count()  # an interpreter may start with a few objects frozen
    inside, leave = threading.Event(), threading.Event()

    def other_start():
        with forking():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=other_start)
    with pytest.raises(RuntimeError), forking():
        assert gc.get_freeze_count() > before
        other.start()
        assert inside.wait(10)
        raise RuntimeError("the engine failed to start")
    assert gc.get_freeze_count() > before  # the other start is still inside: still frozen
    leave.set()
    other.join(10)
    assert gc.get_freeze_count() == 0
