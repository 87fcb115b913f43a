"""A test run leaves docs/ alone: screenshots go to tests/artifacts/, and into docs/ only through
``tests/helpers/pictures.py`` under ``--docs-pictures`` (``make docs-pictures``).

Engine-free and browser-free: the tests' sources are read as syntax trees. Checked: no test code
but that helper takes a screenshot or writes a path that names docs/ (the reliability plugin, which
rewrites its table in docs/testing.md only under ``--reliability-table``, is the one other); the
Makefile's ``DOCS_PICTURES`` lists exactly the modules that name a docs picture, and each such
picture is one the docs show; the helper copies into docs/ only when asked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers.pictures import Pictures

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
HELPER = TESTS / "helpers" / "pictures.py"
# writes docs/testing.md's reliability table only when a run asks (--reliability-table, make reliability)
ALLOWED = {HELPER, TESTS / "reliability_report.py"}
WRITES = {"write_text", "write_bytes", "copy", "copy2", "copyfile", "copytree", "move", "rename", "replace", "touch"}
WRITES |= {"mkdir", "unlink", "rmtree", "savefig", "save", "to_csv", "dump"}


def names_docs(node: ast.AST, tainted: set[str]) -> bool:
    """Whether an expression names docs/: a string or name that says "docs", or a name that was
    given such a value."""
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.search(r"(^|/)docs(/|$)", n.value):
            return True
        if isinstance(n, ast.Name) and (n.id in tainted or n.id.lower() == "docs"):
            return True
        if isinstance(n, ast.Attribute) and n.attr.lower() == "docs":
            return True
    return False


def offences(source: str) -> list[str]:
    """Each screenshot taken, and each write to a path that names docs/, in ``source``."""
    tree = ast.parse(source)
    tainted: set[str] = set()
    for n in ast.walk(tree):  # names bound to a docs/ path anywhere in the module
        if isinstance(n, ast.Assign) and names_docs(n.value, tainted):
            tainted |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    found = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        func = n.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        parts = [*n.args, *(k.value for k in n.keywords)]
        if isinstance(func, ast.Attribute):
            parts.append(func.value)
        if name == "screenshot":
            found.append(f"line {n.lineno}: a screenshot not through pictures.shoot")
        elif name == "open" and set(mode(n)) & set("wax+"):
            if any(names_docs(a, tainted) for a in parts):
                found.append(f"line {n.lineno}: open() for writing a docs/ path")
        elif name in WRITES and any(names_docs(a, tainted) for a in parts):
            found.append(f"line {n.lineno}: {name}() on a docs/ path")
    return found


def mode(call: ast.Call) -> str:
    """The mode an ``open`` call gives, "r" where it gives none (or one not written out)."""
    given = call.args[1:2] + [k.value for k in call.keywords if k.arg == "mode"]
    return str(given[0].value) if given and isinstance(given[0], ast.Constant) else "r"


def sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p not in ALLOWED and "artifacts" not in p.parts)


def docs_pictures_named(path: Path) -> set[str]:
    """The docs pictures ``path`` names: the ``docs=`` of its ``pictures.shoot`` calls."""
    calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
    shoots = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "shoot"]
    return {k.value.value for c in shoots for k in c.keywords if k.arg == "docs" and isinstance(k.value, ast.Constant)}


def test_no_test_module_takes_a_screenshot_or_writes_docs_but_through_the_pictures_helper():
    found = {str(p.relative_to(ROOT)): offences(p.read_text()) for p in sources()}
    assert not {k: v for k, v in found.items() if v}, found
    assert len(found) > 60  # the scan read the suite, helpers and security tests included


def test_the_scan_finds_a_screenshot_into_docs_and_a_write_through_a_docs_name():
    bad = """
from pathlib import Path
DOCS = Path(__file__).parents[1] / "docs"
OUT = DOCS / "x.png"
def test_x(page, artifacts):
    page.screenshot(path=str(artifacts / "x.png"))
    OUT.write_bytes(b"")
    (Path("docs") / "y.md").write_text("")
    open("docs/z.txt", "w")
    open("docs/z.txt").read()
    shutil.copyfile(artifacts / "x.png", DOCS / "x.png")
"""
    lines = [int(re.match(r"line (\d+)", o).group(1)) for o in offences(bad)]
    assert lines == [6, 7, 8, 9, 11], offences(bad)
    assert offences('(ROOT / "docs" / "options.md").read_text()\npictures.shoot(page, "a.png", docs="b.png")') == []


def test_make_docs_pictures_runs_every_module_that_names_a_docs_picture_and_each_is_shown_in_the_docs():
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")  # continued lines joined
    listed = re.search(r"^DOCS_PICTURES := (.+)$", makefile, re.M).group(1).split()
    naming = {str(p.relative_to(ROOT)): docs_pictures_named(p) for p in sources()}
    assert sorted(listed) == sorted(k for k, v in naming.items() if v)
    assert re.search(r"^docs-pictures:.*\n\t.*--docs-pictures \$\(DOCS_PICTURES\)", makefile, re.M)
    shown = " ".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    for picture in set().union(*naming.values()):
        assert (ROOT / "docs" / picture).is_file() and picture in shown, picture


class Page:
    """A stand-in for a Playwright page: ``screenshot`` writes the bytes it was given."""

    def screenshot(self, path: str, **options) -> None:
        Path(path).write_bytes(b"png " + repr(sorted(options)).encode())


def test_a_picture_goes_to_artifacts_and_to_docs_only_when_the_run_refreshes_them(tmp_path):
    artifacts, copies = tmp_path / "artifacts", tmp_path / "copies"  # stand-ins for tests/artifacts/, docs/
    artifacts.mkdir()
    copies.mkdir()
    picture = {"docs": "screenshot-a.png"}  # (a dict: this module names no docs picture itself)
    shot = Pictures(artifacts, None).shoot(Page(), "a.png", **picture, full_page=True)
    assert shot == artifacts / "a.png" and shot.read_bytes() == b"png ['full_page']"
    assert list(copies.iterdir()) == []  # a normal run
    Pictures(artifacts, copies).shoot(Page(), "b.png")  # no docs picture named
    assert list(copies.iterdir()) == []
    Pictures(artifacts, copies).shoot(Page(), "a.png", **picture)  # make docs-pictures
    assert (copies / "screenshot-a.png").read_bytes() == (artifacts / "a.png").read_bytes() == b"png []"
