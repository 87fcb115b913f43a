"""The layout as rules: which package may import which, read from the source (``tests/helpers/imports.py``).

``inference/`` is layered: each package imports only those before it (``LAYERS``), so a reader
can take the library in that order and a change can break only what comes after it. The
checkpoint builders run in their own environments and the app never imports them; torch and the
engine libraries load only when an engine starts (``tests/test_imports.py`` confirms it in a real
interpreter); tests and benchmarks share plain helper modules, never each other.
"""

from __future__ import annotations

import ast

import pytest

from tests.helpers.imports import folder, imports, is_project, project_modules

# package -> the project's packages its modules may import (besides their own package)
BASE = {"inference"}  # spec, errors, compat
INPUTS = BASE | {"inference.inputs"}
COMPARE = INPUTS | {"inference.compare"}
ENGINES = COMPARE | {"inference.engines"}
LIBRARY = ENGINES | {"inference.deploy", "inference.evaluation", "inference.store"}
LAYERS = {
    "inference": set(),
    "inference.inputs": BASE,
    "inference.compare": INPUTS,
    "inference.engines": COMPARE,
    "inference.deploy": ENGINES,  # running it: the host's options and the sides they make (specs, backends)
    "inference.store": BASE,
    "inference.evaluation": ENGINES | {"inference.deploy"},
    "inference.checkpoints": set(),  # run in their own environments (the recipe's has no vLLM)
    "ui": LIBRARY,
    "app": LIBRARY | {"ui"},
    "bench": LIBRARY | {"app", "ui"},
    "tests": LIBRARY | {"app", "ui", "tests.helpers"},
    "tests.helpers": LIBRARY | {"app"},
    "tests.security": LIBRARY | {"app", "ui", "tests.helpers"},  # attacks, as an outside client sends them
}
HEAVY = ("torch", "transformers", "vllm")  # a CPU process sets its OpenMP settings before torch loads
# These import torch (or vLLM) on import; only ever imported inside a function, or by vLLM itself
# (cpu_fp8: its plugin entry point and worker extension, named by string).
LAZY_ONLY = {"inference.engines.hf_steps", "inference.engines.cpu_fp8"}
APP = [m for m in project_modules() if m == "app" or m.split(".")[0] in ("inference", "ui")]
SERVED = [m for m in APP if folder(m) != "inference.checkpoints"]


def edges(modules):
    return [(m, i) for m in modules for i in imports(project_modules()[m])]


def test_every_module_is_in_a_package_the_layers_name():
    assert {folder(m) for m in project_modules()} <= set(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_each_package_imports_only_the_packages_before_it(package):
    mine = [m for m in project_modules() if folder(m) == package]
    allowed = LAYERS[package] | {package}
    wrong = [
        f"{m}:{i.line} imports {i.target}"
        for m, i in edges(mine)
        if is_project(i.target) and i.target != package and folder(i.target) not in allowed
    ]
    assert not wrong


def test_the_app_never_imports_the_checkpoint_builders():
    wrong = [f"{m}:{i.line}" for m, i in edges(SERVED) if i.target.startswith("inference.checkpoints")]
    assert not wrong


def test_the_library_never_imports_gradio_or_the_ui():
    library = [m for m in APP if m.startswith("inference")]
    wrong = [f"{m}:{i.line} {i.target}" for m, i in edges(library) if i.target.split(".")[0] in ("gradio", "ui", "app")]
    assert not wrong


def test_torch_and_the_engine_libraries_are_imported_only_inside_functions():
    wrong = [
        f"{m}:{i.line} {i.target}"
        for m, i in edges(SERVED)
        if i.eager and m not in LAZY_ONLY and (i.target.split(".")[0] in HEAVY or i.target in LAZY_ONLY)
    ]
    assert not wrong


def test_package_inits_hold_a_docstring_and_nothing_else():
    for name, path in project_modules().items():
        if path.name == "__init__.py":
            body = ast.parse(path.read_text()).body
            assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body), name


def test_no_test_module_imports_another_test_module_or_conftest():
    tests = [m for m in project_modules() if m.startswith("tests")]
    wrong = [
        f"{m}:{i.line} {i.target}"
        for m, i in edges(tests)
        if i.target.startswith("tests") and not i.target.startswith("tests.helpers")
    ]
    assert not wrong


def test_tests_and_bench_do_not_import_each_other():
    wrong = [
        f"{m}:{i.line} {i.target}"
        for m, i in edges(project_modules())
        if {m.split(".")[0], i.target.split(".")[0]} == {"tests", "bench"}
    ]
    assert not wrong
