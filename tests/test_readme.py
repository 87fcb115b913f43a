"""The README a newcomer reads: under 800 words, the two commands first, every docs page linked;
and the code layout page (docs/layout.md), whose tree names every file of the app, library and
benchmarks, and nothing that is not there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LAYOUT = ROOT / "docs" / "layout.md"
DETAILED = ("inference/", "ui/", "bench/")  # folders whose every file has its own line


def tree() -> list[str]:
    """The paths the layout page's tree names: files, and folders summed up in one line."""
    block = LAYOUT.read_text().split("```", 2)[1]
    paths, stack = [], []
    for line in block.strip("\n").splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        stack[depth:] = [name]
        paths.append("".join(stack))
    return paths


def tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {p for p in out.splitlines() if (ROOT / p).exists()}


def test_the_layout_tree_names_every_file_of_the_app_library_and_benchmarks():
    listed = set(tree())
    files = {p for p in tracked() if p.startswith(DETAILED) and not p.startswith("bench/results/")}
    files = {p for p in files if not p.endswith("__init__.py")}
    assert files - listed == set(), "files the layout tree does not name"
    top = {p for p in tracked() if "/" not in p and not p.startswith(".") and p != "README.md"}
    assert top - listed == set(), "top-level files the layout tree does not name"


def test_everything_the_layout_tree_names_exists():
    missing = [p for p in tree() if not (ROOT / p.rstrip("/")).exists()]
    assert missing == []


def test_every_docs_page_is_linked_and_every_link_resolves():
    text = README.read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", text))
    assert pages == linked
    for page in [README, *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_the_readme_stays_a_five_minute_read():
    """Under five minutes at ~200 words a minute: reference lives in docs/ (options: docs/options.md)."""
    text = README.read_text()
    body = text.split("\n---\n", 1)[1]  # after the Space's front matter
    assert len(body.split()) <= 800
    assert text.index("make demo") < text.index("## ") and text.index("make test") < text.index("## ")  # first
    assert "](docs/screenshot-" in text  # a picture
