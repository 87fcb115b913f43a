"""The app's command line, its ``DEMO_*`` variables and the options reference, all generated
from ``inference.deploy.options``.

Contract: ``parser()`` is the argparse parser of every ``Options`` field, one group per concern,
each help naming its variable. ``parse(argv, environ)`` is the ``Options`` they give: the command
line wins over the variable, the variable over the field's default (a repeated option given on
the command line replaces its variable's values). Another command that shares a concern (the
evaluation shares ``models``) adds it to its own parser with ``add_concern(p, concern)`` and reads
it back with ``concern_from(namespace, environ, concern)``, so its flags, variables and help are
the app's. A bad variable, or a value below an option's
minimum, raises ``OptionError`` with one sentence naming it; a bad command line stops in argparse
as usual. ``variables()`` names every variable read; ``markdown()`` is ``docs/options.md``
(``make docs-options`` writes it; a test holds the committed page to it). Only the ``argv`` and
``environ`` given are read.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

from inference.deploy.options import ROOT, OptionError, Options, concerns, flag, variable

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
DESCRIPTION = "Qwen3.5-9B FP8 next to BF16, streamed side by side."
SHAPES = {int: "N", float: "NUMBER", Path: "PATH"}  # what the options reference writes after a flag


def options() -> Iterator[tuple[str, type, Field[Any], type, bool]]:
    """Every option: (concern, its class, the field, its value type, whether it repeats)."""
    for concern, cls in concerns():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            hint = hints[f.name]
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
                hint = next(a for a in typing.get_args(hint) if a is not type(None))  # Optional: the value's type
            repeats = typing.get_origin(hint) is tuple and "parse" not in f.metadata
            base = typing.get_args(hint)[0] if repeats else (str if typing.get_origin(hint) is tuple else hint)
            yield concern, cls, f, base, repeats


def shown(value: Any) -> str:
    """A default as the help and the docs show it (a path in the checkout relative to it)."""
    if isinstance(value, bool):
        return "off" if not value else "on"
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    if isinstance(value, Path) and value.is_relative_to(ROOT):
        return str(value.relative_to(ROOT))
    return str(value) if value != "" else "empty"


def parser() -> argparse.ArgumentParser:
    """The command line: one argument per option (its default left to ``parse``)."""
    p = argparse.ArgumentParser(
        description=DESCRIPTION,
        epilog="Every option can also be set by its environment variable, shown in brackets (DEMO_…).",
    )
    for concern, _cls in concerns():
        add_concern(p, concern)
    return p


def add_concern(p: argparse.ArgumentParser, concern: str) -> None:
    """One concern's options as a group of ``p``: each field's flag, help and variable."""
    group = None
    for name, cls, f, base, repeats in options():
        if name != concern:
            continue
        group = group or p.add_argument_group(concern, (cls.__doc__ or "").strip())
        meta = f.metadata
        default = "" if f.default in ((), "", False) else f" (default: {shown(f.default)})"  # empty: help says
        how: dict[str, Any] = {"dest": f.name, "default": None}
        also = f" (also {meta['fallback']}, which {variable(f)} overrides)" if "fallback" in meta else ""
        how["help"] = f"{meta['help']}{default}{also} [{variable(f)}]".replace("%", "%%")
        if base is bool:
            how["action"] = "store_true"
        else:
            how |= {"action": "append"} if repeats else {}
            how |= {"type": base} if "parse" not in meta else {}
            how |= {k: meta[k] for k in ("choices", "metavar") if k in meta}
        group.add_argument(flag(f), **how)


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Options:
    """The options the command line and the variables give (see the module's contract)."""
    given = parser().parse_args(list(argv))
    return Options(**{concern: concern_from(given, environ, concern) for concern, _cls in concerns()})


def concern_from(given: argparse.Namespace, environ: Mapping[str, str], concern: str) -> Any:
    """One concern's dataclass from a parsed command line (``add_concern``'s flags) and the variables."""
    values: dict[str, Any] = {}
    for name, _cls, f, base, repeats in options():
        if name != concern:
            continue
        var = variable(f)
        found = var if var in environ else f.metadata.get("fallback", var)
        value = getattr(given, f.name)
        if value is not None:
            value = tuple(value) if repeats else value
        elif found in environ:
            value = from_text(f, base, repeats, environ[found], found)
        else:
            value = f.default
        if "parse" in f.metadata and isinstance(value, str):
            try:
                value = f.metadata["parse"](value)
            except ValueError as err:
                raise OptionError(f"{flag(f)} ({var}): {err}.") from None
        check(f, value)
        values[f.name] = value
    return dict(concerns())[concern](**values)


def from_text(f: Field[Any], base: type, repeats: bool, raw: str, name: str) -> Any:
    """An option's value from its variable, converted as argparse would convert it on the command
    line (a repeated option's values separated by spaces, a yes/no option's by 1 or 0)."""
    if base is bool:
        if raw.strip().lower() not in TRUE + FALSE:
            raise OptionError(f"{name}={raw!r}: say 1 or 0.")
        return raw.strip().lower() in TRUE
    if repeats:
        return tuple(raw.split())
    if "parse" in f.metadata:
        return raw
    try:
        value = base(raw)
    except (TypeError, ValueError):
        raise OptionError(f"{name}={raw!r}: not a valid {base.__name__}.") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise OptionError(f"{name}={raw!r}: choose one of {', '.join(choices)}.")
    return value


def check(f: Field[Any], value: Any) -> None:
    """An option's minimum, with its sentence."""
    least = f.metadata.get("minimum")
    if least is None or value is None or value >= least:
        return
    if "below" in f.metadata:
        raise OptionError(f"{flag(f)} {value}: {f.metadata['below']}.")
    raise OptionError(f"{flag(f)} ({variable(f)}): needs at least {least}.")


def variables() -> set[str]:
    """Every environment variable the options read (their own, and the fallbacks)."""
    found = set()
    for *_, f, _base, _repeats in options():
        found |= {variable(f), *([f.metadata["fallback"]] if "fallback" in f.metadata else [])}
    return found


def markdown() -> str:
    """The options reference: one table per concern (``docs/options.md``)."""
    lines = [
        "# Options",
        "",
        "Generated from `inference/deploy/options.py` by `make docs-options`; `tests/test_options.py` fails",
        "when this page and the schema disagree, so edit the schema, not this page.",
        "",
        "Every option is a command-line flag of `python app.py` and an environment variable (a Space is",
        "configured by its variables); the command line wins over the variable. A repeated option (`--model`)",
        "takes its variable's values separated by spaces; a yes/no option's variable says 1 or 0.",
    ]
    current = None
    for concern, cls, f, base, repeats in options():
        if concern != current:
            current = concern
            lines += ["", f"## {concern}", "", (cls.__doc__ or "").strip(), ""]
            lines += ["| option | variable | default | what it does |", "|---|---|---|---|"]
        meta = f.metadata
        shape = f" {meta.get('metavar', SHAPES.get(base, 'TEXT'))}" if base is not bool else ""
        shape = f" {{{','.join(meta['choices'])}}}" if "choices" in meta else shape
        name = f"`{flag(f)}{shape}`" + (" (repeat)" if repeats else "")
        names = f"`{variable(f)}`" + (f" (or `{meta['fallback']}`)" if "fallback" in meta else "")
        default = "—" if f.default in ((), "") else f"`{shown(f.default)}`"
        lines.append(f"| {name} | {names} | {default} | {meta['help'].replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
