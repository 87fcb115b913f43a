"""What the benchmarks share: the project's folders, a test picture, a process tree's memory, and
the docs/performance.md blocks they quote their tables in. Imports nothing heavy on import (the start-up
benchmark times its own imports); never imports ``tests`` (nor do the tests import ``bench``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TINY = ROOT / ".cache" / "tiny"


def scene_image(folder: Path) -> Path:
    """The 448x336 test picture (a red disc left of a blue square): ``inference.inputs.samples``'."""
    from inference.inputs.samples import make_scene

    return make_scene(folder)


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default) and all its children, in MiB."""
    import psutil

    root = psutil.Process(pid or os.getpid())
    total = 0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that just ended
            total += p.memory_info().rss
    return total / 2**20


def cpu_model() -> str:
    """``lscpu``'s model name ("?" where it says none)."""
    import subprocess

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")


PERFORMANCE = ROOT / "docs" / "performance.md"  # where the benchmarks' generated blocks are quoted


def quote_in_docs(block: str, text: str, *, required: bool = True, page: Path = PERFORMANCE) -> None:
    """Replace ``page``'s text between ``<!-- bench:{block} -->`` and ``<!-- /bench:{block} -->``
    with ``text``; without the markers: a ``ValueError``, or nothing when not ``required``."""
    start, end = f"<!-- bench:{block} -->\n", f"<!-- /bench:{block} -->"
    body = page.read_text()
    if start not in body or end not in body:
        if required:
            raise ValueError(f"{page.name} has no {start.strip()} … {end} block")
        return
    head, rest = body.split(start, 1)
    page.write_text(head + start + text + rest[rest.index(end) :])


def save(name: str, data: object, text: str, *, docs: bool = True) -> None:
    """Write ``bench/results/{name}.json`` and ``{name}.md``, quote the table in docs/performance.md's
    ``{block}`` (``name`` with ``_`` as ``-``) where that block exists and ``docs``, and print it."""
    import json

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    if docs:
        quote_in_docs(name.replace("_", "-"), text, required=False)
    print(text)
