"""What importing the app loads, in a real interpreter: a CPU process imports the app and the
library before it sets its OpenMP settings, so none of it may load torch (nor transformers or
vLLM, which load torch); only ``inference.engines.hf_steps`` and ``inference.engines.cpu_fp8`` (vLLM's
plugin, loaded by vLLM) do, and the layout rules
(``tests/test_layout.py``) keep it imported inside functions only. The library loads no Gradio.
The library and the page have no import circles, counting every import: at import time, inside a
function, or for types only (read from the source, ``tests.helpers.imports``).
"""

from __future__ import annotations

import graphlib
import subprocess
import sys

import pytest

from tests.helpers.imports import folder, imports, project_modules

APP = [m for m in project_modules() if m == "app" or m.split(".")[0] in ("inference", "ui")]
LAZY = ("inference.engines.hf_steps", "inference.engines.cpu_fp8")
SERVED = [m for m in APP if folder(m) != "inference.checkpoints" and m not in LAZY]
LIBRARY = [m for m in SERVED if m.startswith("inference")]


def loaded_after_importing(modules: list[str]) -> set[str]:
    code = f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\nprint(*sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_the_app_and_the_library_loads_no_torch():
    assert not loaded_after_importing(SERVED) & {"torch", "transformers", "vllm"}


def test_importing_the_library_loads_no_gradio():
    assert not loaded_after_importing(LIBRARY) & {"gradio", "gradio_client", "ui"}


def import_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Each module of ``packages`` -> the modules of ``packages`` it imports anywhere in its source."""
    known = project_modules()
    mine = {m: p for m, p in known.items() if m.split(".")[0] in packages}
    return {m: {i.target for i in imports(p) if i.target in mine and i.target != m} for m, p in mine.items()}


def circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (``[a, b, a]``), or ``[]`` when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return []


def test_the_circle_finder_finds_a_circle_and_accepts_a_tree():
    assert sorted(circle({"a": {"b"}, "b": {"c"}, "c": {"a"}})[:3]) == ["a", "b", "c"]
    assert circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("packages", [("inference",), ("inference", "ui")])
def test_the_library_and_the_page_have_no_import_circles(packages):
    assert circle(import_graph(packages)) == []


def test_the_library_never_imports_the_page_or_gradio_even_inside_functions():
    known = project_modules()
    found = [
        f"{m}:{i.line} imports {i.target}"
        for m, p in known.items()
        if m.split(".")[0] == "inference"
        for i in imports(p)
        if i.target.split(".")[0] in ("ui", "gradio", "gradio_client", "app")
    ]
    assert found == []
