"""Shared fixtures: the tiny checkpoints, test media, and real engines/app servers.

Engines cost seconds to start. ``served`` (the app on the tiny pair, its engines driven from the
app's own event loop, tests reaching it as visitors do) is started once for the whole run and
shared by the modules that take it; a module that drives engines from its own loop, or needs other
options, starts its own pool so that no ``AsyncLLM`` is driven from two event loops.
"""

from __future__ import annotations

import os

from inference.spec import CPU_PROCESS_ENV

# Before torch is imported anywhere in this process (OpenMP reads these once).
os.environ.update(CPU_PROCESS_ENV)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The CPU suite on any machine: an app it starts serves the tiny pair on CPU even where nvidia-smi
# lists a GPU (DEMO_DEVICE is app.py's default for --device).
os.environ["DEMO_DEVICE"] = "cpu"

from pathlib import Path

import pytest

from tests.helpers import media_factory
from tests.helpers.pictures import Pictures
from tests.helpers.servers import serve, started

pytest_plugins = ["tests.reliability_report"]

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / ".cache" / "tiny"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    missing = [d for d in ("bf16", "fp8") if not (TINY / d / "model.safetensors").exists()]
    if missing:
        pytest.fail(f"tiny checkpoints missing in {TINY}: {missing}; run `make tiny` (make test does)")
    return TINY


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "image": media_factory.scene_image(d),
        "video": media_factory.moving_square_video(d),
        "corrupt": media_factory.corrupt_image(d),
    }


_reported: list[str] = []


def pytest_addoption(parser):
    parser.addoption(
        "--cpu-isa",
        choices=["native", "avx2"],
        default="native",
        help="avx2: run vLLM's and torch's AVX2 CPU kernels even on an AVX-512 machine (make test-avx2)",
    )
    parser.addoption(
        "--docs-pictures",
        action="store_true",
        help="also copy the screenshots the docs show into docs/ (make docs-pictures); "
        "without it tests write pictures only under tests/artifacts/",
    )


# ``--cpu-isa avx2``: what vLLM's CPU platform and layers ask torch to pick their kernels; an AVX2-only
# CPU says no to all. And oneDNN makes no BF16 matmul there ("could not create a primitive
# descriptor", AMD EPYC Zen 3, 2026-12-07), so vLLM's unquantised GEMM falls back to torch's linear
# on both sides: ``create_onednn_mm`` refuses BF16 weights as it does there. A process the tests
# start (an app, the CPU server) reads all this from a ``sitecustomize`` put first on its
# PYTHONPATH, so every process runs the same kernels.
AVX2_ONLY = """import os
if os.environ.get("ATEN_CPU_CAPABILITY") == "avx2":
    import importlib.abc
    import importlib.machinery
    import sys

    import torch
    for probe in ("avx512", "avx512_bf16", "avx512_vnni", "amx_tile"):
        setattr(torch.cpu, f"_is_{probe}_supported", lambda: False)

    def no_bf16_onednn(ops):
        made = ops.create_onednn_mm
        def create_onednn_mm(weight, *args, **kwargs):
            if weight.dtype == torch.bfloat16:
                raise RuntimeError("could not create a primitive descriptor for the matmul primitive (BF16, AVX2)")
            return made(weight, *args, **kwargs)
        ops.create_onednn_mm = create_onednn_mm

    class OpsLoaded(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "vllm._custom_ops":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module
            spec.loader.exec_module = lambda module: (run(module), no_bf16_onednn(module))
            return spec

    if "vllm._custom_ops" in sys.modules:
        no_bf16_onednn(sys.modules["vllm._custom_ops"])
    else:
        sys.meta_path.insert(0, OpsLoaded())
"""


def pytest_configure(config):
    if config.getoption("--cpu-isa") == "avx2":  # before any engine starts: forked EngineCores inherit it
        import tempfile

        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
        site = Path(tempfile.mkdtemp(prefix="avx2-only-"))
        (site / "sitecustomize.py").write_text(AVX2_ONLY)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        exec(AVX2_ONLY, {})  # this process too


@pytest.fixture(scope="session")
def report():
    """``report(line)``: a figure a test measured, printed in the summary at the end of the run."""
    return _reported.append


def pytest_terminal_summary(terminalreporter):
    if _reported:
        terminalreporter.section("measured by the tests")
        for line in _reported:
            terminalreporter.line(line)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def pictures(request, artifacts) -> Pictures:
    """``pictures.shoot(page, name, docs=...)``: a screenshot in tests/artifacts/, and in docs/
    under ``--docs-pictures`` only (``tests/helpers/pictures.py``)."""
    return Pictures(artifacts, ROOT / "docs" if request.config.getoption("--docs-pictures") else None)


@pytest.fixture(scope="session")
def served(tiny_dir):
    """The tiny FP8/BF16 pair; answers are 160 tokens (``ignore_eos``): a few seconds side by side.
    Videos over 10 s are refused (so a test can show it with a small file). One for the whole run
    (the suite's time, issue 28): a test leaves it as it found it (no turn running, settings as built)."""
    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair

    settings = GenerationSettings(max_tokens=160, ignore_eos=True)
    with serve(cpu_pair(tiny_dir), settings, max_video_seconds=10) as served:
        yield served


@pytest.fixture(scope="session")
def tiny_pool(tiny_dir):
    """The tiny FP8/BF16 pair as an ``EnginePool`` (no page), started once for the modules that drive
    engines directly (test_cross_engine, test_engine: one start instead of two, issue 28). A test
    leaves it as it found it: no request running, both engines alive."""
    from inference.spec import cpu_pair

    with started(cpu_pair(tiny_dir)) as pool:
        yield pool


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test stopped by its time limit (pytest-timeout) says, in one sentence, which part of the
    project it was in and on what CPU, so a slow machine reads as such rather than as a hang."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or "Timeout" not in str(call.excinfo.value):
        return
    from inference.deploy.cpu import cpu_facts

    ours = [e for e in call.excinfo.traceback if ROOT in Path(str(e.path)).parents and ".venv" not in str(e.path)]
    where = ours[-1] if ours else None
    place = "outside the project"
    if where is not None:
        place = f"{Path(str(where.path)).relative_to(ROOT)}:{where.lineno + 1} ({where.name})"
    limit = item.get_closest_marker("timeout")
    seconds = limit.args[0] if limit and limit.args else item.config.getini("timeout")
    facts = cpu_facts()
    report.sections.append(
        (
            "time limit",
            f"{item.nodeid} ran past its {seconds} s limit during {call.when}, in {place}, on {facts['model']} "
            f"({facts['isa']}); `make test` printed each side's decode rate on this machine first.",
        )
    )
