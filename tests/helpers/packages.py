"""Package sets and what the served app imports, for the tests that compare them.

Contract: ``pins(path)`` maps each package's lower-case name to its ``==`` version, following
``-r`` includes (relative to the file); a line that does not pin one exact version fails the test.
``APP_SOURCES`` are the served app's files (not the build tools), ``imported_modules(paths)`` the
top-level names they import, ``third_party(paths)`` those neither in the standard library nor here.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The served app's code: the build tools (tiny checkpoints, the FP8 recipe) do not run in the image.
APP_SOURCES = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))] + [
    p for p in sorted((ROOT / "inference").rglob("*.py")) if "checkpoints" not in p.relative_to(ROOT).parts
]
LOCAL = {"inference", "ui", "app", "tests"}


def pins(path: Path) -> dict[str, str]:
    """name → exact version of a requirements file (its ``-r`` includes followed)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version.strip()), f"{path.name}: {line!r} is not pinned"
            found[name.strip().lower()] = version.strip()
    return found


def imported_modules(paths: list[Path]) -> set[str]:
    """Top-level names of the absolute imports in ``paths``, including those inside functions."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def third_party(paths: list[Path]) -> set[str]:
    """The imported top-level names that are neither the standard library's nor this project's."""
    return {m for m in imported_modules(paths) if m not in sys.stdlib_module_names and m not in LOCAL}
