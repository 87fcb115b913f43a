"""One options schema (``inference/deploy/options.py``): the command line, the ``DEMO_*`` variables
and the options reference in docs/ are all generated from its fields and agree with it; every
field reaches the parsed ``Options`` from its flag and from its variable; ``--system-prompt`` (an
option added as one field) reaches the page; and the schema reads neither argv nor the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.deploy import command_line
from inference.deploy.options import Options, flag, variable

ROOT = Path(__file__).resolve().parents[1]
FIELDS = list(command_line.options())


def sample(f, base, repeats) -> tuple[list[str], str, object]:
    """A value other than the default for one option: (argv, the variable's text, the parsed value)."""
    if base is bool:
        return [flag(f)], "1", True
    if repeats:
        return [flag(f), "A=/a", flag(f), "B=/b"], "A=/a B=/b", ("A=/a", "B=/b")
    if "parse" in f.metadata:
        return [flag(f), "10.1.2.0/24, ::1"], "10.1.2.0/24, ::1", ("10.1.2.0/24", "::1")
    if "choices" in f.metadata:
        value = next(c for c in f.metadata["choices"] if c != f.default)
    elif base is int:
        value = f.default + 3
    elif base is float:
        value = (f.default or 0.0) + 2.5
    elif base is Path:
        value = Path("/somewhere/else")
    else:
        value = "something-else"
    return [flag(f), str(value)], str(value), value


def test_argparse_the_variables_and_the_docs_table_agree_with_the_schema():
    actions = {a.option_strings[-1]: a for a in command_line.parser()._actions if a.dest != "help"}
    assert set(actions) == {flag(f) for _, _, f, _, _ in FIELDS}  # one argument per field, no other
    assert len(actions) >= 32
    page = (ROOT / "docs" / "options.md").read_text()
    assert page == command_line.markdown(), "docs/options.md is stale: run `make docs-options`"
    rows = {line.split("`")[1].split()[0]: line for line in page.splitlines() if line.startswith("| `--")}
    for concern, _cls, f, _base, _repeats in FIELDS:
        assert actions[flag(f)].dest == f.name and f"[{variable(f)}]" in actions[flag(f)].help
        assert variable(f) in command_line.variables()
        assert f"`{variable(f)}`" in rows[flag(f)] and f.metadata["help"].split("(")[0].strip() in rows[flag(f)]
        assert f"## {concern}" in page.split(rows[flag(f)])[0]  # under its concern's heading
    assert command_line.variables() - {variable(f) for *_, f, _, _ in FIELDS} == {
        "GRADIO_SERVER_NAME",
        "GRADIO_SERVER_PORT",
    }


@pytest.mark.parametrize(
    ("concern", "f", "base", "repeats"),
    [(c, f, b, r) for c, _, f, b, r in FIELDS],
    ids=[flag(f) for *_, f, _, _ in FIELDS],
)
def test_every_option_reaches_its_field_from_its_flag_and_from_its_variable(concern, f, base, repeats):
    argv, text, value = sample(f, base, repeats)
    assert getattr(getattr(command_line.parse([], {}), concern), f.name) == f.default
    assert getattr(getattr(command_line.parse(argv, {}), concern), f.name) == value
    assert getattr(getattr(command_line.parse([], {variable(f): text}), concern), f.name) == value


def test_the_defaults_are_the_schemas_and_the_options_are_frozen():
    parsed = command_line.parse([], {})
    assert parsed == Options()
    with pytest.raises(AttributeError):
        parsed.generation.max_tokens = 1  # type: ignore[misc]


def test_the_cookie_secret_stays_out_of_the_options_repr():
    assert "s3cret-value" not in repr(command_line.parse(["--cookie-secret", "s3cret-value"], {}))


def test_the_system_prompt_option_reaches_the_page():
    """``--system-prompt``: added as one field of ``GenerationOptions``; the page starts with it."""
    from inference.spec import cpu_pair
    from ui import serve

    options = command_line.parse([], {"DEMO_SYSTEM_PROMPT": "Answer in one sentence."})
    page = serve.build(cpu_pair(Path("/nowhere/tiny")), options)
    try:
        assert page.comparison.settings.system == "Answer in one sentence."
        boxes = [c for c in page.demo.config["components"] if c["props"].get("label") == "System prompt"]
        assert [b["props"]["value"] for b in boxes] == ["Answer in one sentence."]
    finally:
        page.demo.close()


def test_the_schema_and_the_sides_read_neither_argv_nor_the_environment():
    for module in ("options.py", "command_line.py", "sides.py"):
        text = (ROOT / "inference" / "deploy" / module).read_text()
        assert "os.environ" not in text and "sys.argv" not in text and "getenv" not in text, module
