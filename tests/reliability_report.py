"""A pytest plugin: the reliability suite's table (``make reliability``).

Contract: with ``--reliability-table FILE``, every test marked ``reliability`` is counted by
area (its module) as passed or failed, and the figures tests put in the session-wide
``figures`` fixture are listed beside; the Markdown table is written to FILE at the end and
into docs/testing.md between ``<!-- reliability -->`` and ``<!-- /reliability -->``.
"""

from __future__ import annotations

import platform
import re
import time
from collections import defaultdict
from pathlib import Path

import pytest

AREAS = {
    "test_reliability": "bad inputs: the corpus through the app",
    "test_faults": "engine faults: hang, death, restart",
    "test_process": "process hygiene: signals, orphans, uploads, logs",
    "test_app": "security: served files, forged paths, API",
    "test_browser": "security: hostile markup in the browser",
}
_counts: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0})
_figures: dict[str, dict[str, object]] = defaultdict(dict)


def pytest_addoption(parser):
    parser.addoption("--reliability-table", default=None, help="write the reliability table here")


@pytest.fixture(scope="session")
def figures():
    """``figures[area_module][name] = value``: numbers for the reliability table."""
    return _figures


def pytest_runtest_logreport(report):
    if "reliability" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        module = Path(report.fspath).stem
        _counts[module]["passed" if report.outcome == "passed" else "failed"] += 1


def table() -> str:
    rows = ["| area | cases | passed | failed | figures |", "|---|---:|---:|---:|---|"]
    for module, area in AREAS.items():
        c = _counts.get(module)
        if not c:
            continue
        shown = "; ".join(f"{k} {v}" for k, v in _figures.get(module, {}).items())
        rows.append(f"| {area} | {c['passed'] + c['failed']} | {c['passed']} | {c['failed']} | {shown} |")
    total = {k: sum(c[k] for c in _counts.values()) for k in ("passed", "failed")}
    rows.append(f"| **all** | {total['passed'] + total['failed']} | {total['passed']} | {total['failed']} | |")
    stamp = f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, tiny CPU pair"
    return f"Reliability suite ({stamp}):\n\n" + "\n".join(rows) + "\n"


def pytest_sessionfinish(session):
    target = session.config.getoption("--reliability-table")
    if not target or not _counts:
        return
    text = table()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(text, encoding="utf-8")
    readme = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
    body = readme.read_text(encoding="utf-8")
    block = re.compile(r"(<!-- reliability -->\n).*?(<!-- /reliability -->)", re.S)
    if block.search(body):
        readme.write_text(block.sub(lambda m: m.group(1) + text + m.group(2), body), encoding="utf-8")
