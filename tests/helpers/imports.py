"""The project's import graph, read from the source (``ast``), nothing imported.

Contract: ``project_modules()`` maps each module of the project (``app``, ``inference.*``,
``ui.*``, ``bench.*``, ``tests.*``) to its file. ``imports(path)`` lists the absolute imports of
one file as ``Import``s: the module named (``from a import b`` names ``a.b`` when that is a
module of the project, else ``a``), and whether it runs when the file is imported (``eager``:
not inside a function, not under ``if TYPE_CHECKING``). ``eager_closure(module)`` is every
project module that importing ``module`` imports, itself included. ``folder(module)`` is the
package a module belongs to, as the folder rules and the summary count it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("inference", "ui", "bench", "tests")
SKIP = {"artifacts", "results", "__pycache__"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module imported (a project module where it is one)
    eager: bool  # runs at import time of ``source``
    line: int


def module_name(path: Path) -> str:
    parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    files = [ROOT / "app.py"]
    for package in PACKAGES:
        files += [p for p in sorted((ROOT / package).rglob("*.py")) if not SKIP & set(p.parts)]
    return {module_name(p): p for p in files}


def _resolve(module: str, names: Iterable[str]) -> list[str]:
    """``from module import names``: each name that is a project module, else ``module`` itself."""
    known = project_modules()
    found = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
    return found or [module]


class _Reader(ast.NodeVisitor):
    def __init__(self, source: str, package: str):
        self.source, self.package = source, package
        self.found: list[Import] = []
        self.depth = 0  # functions (and TYPE_CHECKING blocks) entered

    def _add(self, targets: Iterable[str], node: ast.AST) -> None:
        self.found += [Import(self.source, t, self.depth == 0, node.lineno) for t in targets]

    def visit_Import(self, node: ast.Import) -> None:
        self._add((a.name for a in node.names), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:  # relative: resolved against the importing package
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            module = ".".join([*base, module] if module else base)
        self._add(_resolve(module, (a.name for a in node.names)), node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self._nested(node)
        else:
            self.generic_visit(node)


@cache
def imports(path: Path) -> tuple[Import, ...]:
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    reader = _Reader(source, package)
    reader.visit(ast.parse(path.read_text(encoding="utf-8")))
    return tuple(reader.found)


def is_project(module: str) -> bool:
    return module == "app" or module.split(".")[0] in PACKAGES


def eager_closure(module: str) -> set[str]:
    """``module`` and every project module importing it imports at import time (packages included)."""
    known, seen, todo = project_modules(), set(), [module]
    while todo:
        m = todo.pop()
        parts = m.split(".")
        for k in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            name = ".".join(parts[:k])
            if name in known and name not in seen:
                seen.add(name)
                todo += [i.target for i in imports(known[name]) if i.eager and is_project(i.target)]
    return seen


def folder(module: str) -> str:
    """The package a module belongs to: ``inference.engines.pool`` -> ``inference.engines``,
    ``inference.errors`` -> ``inference``, ``inference.engines`` -> itself, ``app`` -> ``app``."""
    path = project_modules().get(module)
    if path is not None and path.name == "__init__.py":
        return module
    return module.rpartition(".")[0] or module


def summary(group=folder) -> str:
    """Per group of modules (``folder`` by default), the groups and the heavy third-party
    packages it imports; ``*`` marks what it imports only lazily (inside functions)."""
    edges: dict[str, dict[str, bool]] = {}
    for name, path in project_modules().items():
        mine = edges.setdefault(group(name), {})
        for i in imports(path):
            project = is_project(i.target)
            target = group(i.target) if project else i.target.split(".")[0]
            if target != group(name) and (project or target in THIRD_PARTY_SHOWN):
                mine[target] = mine.get(target, False) or i.eager
    lines = []
    for src in sorted(edges):
        targets = ", ".join(t + ("" if eager else "*") for t, eager in sorted(edges[src].items()))
        lines.append(f"{src:28} -> {targets or '(nothing)'}")
    return "\n".join(lines)


THIRD_PARTY_SHOWN = {"torch", "transformers", "vllm", "gradio", "gradio_client"}

if __name__ == "__main__":  # python -m tests.helpers.imports: the graph by package
    print(summary())
