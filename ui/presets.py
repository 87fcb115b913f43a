"""Settings from the page's link: ``/?max_tokens=24&enable_thinking=1`` opens the page with those
values in the settings panel (a host's link for a showcase screen; the browser tests open pages so).

Contract: ``preset(query, names, controls)`` reads the query parameters named like the settings
and returns, per control in order, the value to show (or ``None``: leave it as it is) and one
sentence per setting it ignored (a value outside the control's range, or not of its kind). Each
value is checked against the control's own bounds: a link cannot ask for more than the panel
allows. Pure apart from reading the components' ``minimum``/``maximum``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _value(control: gr.components.Component, raw: str) -> Any:
    """The control's value for ``raw``; ``ValueError`` with the reason when it has none."""
    if isinstance(control, gr.Checkbox):
        if raw.lower() not in TRUE + FALSE:
            raise ValueError("not on or off (1 or 0)")
        return raw.lower() in TRUE
    if isinstance(control, gr.Textbox):
        return raw
    if isinstance(control, gr.Radio):
        allowed = [value for _, value in control.choices]
        if raw not in allowed:
            raise ValueError(f"not one of {', '.join(str(v) for v in allowed)}")
        return raw
    try:
        number = float(raw)
    except ValueError:
        raise ValueError("not a number") from None
    low, high = getattr(control, "minimum", None), getattr(control, "maximum", None)
    if not (low is None or number >= low) or not (high is None or number <= high) or number != number:
        raise ValueError(f"outside {low:g} to {high:g}" if low is not None and high is not None else "not allowed")
    if number.is_integer():
        return int(number)
    if isinstance(control, gr.Number):  # the seed: a whole number
        raise ValueError("not a whole number")
    return number


def preset(
    query: Mapping[str, str], names: Sequence[str], controls: Sequence[gr.components.Component]
) -> tuple[list[Any], list[str]]:
    """Values for ``controls`` (named ``names``) from ``query``; ``None`` where the link says nothing."""
    values: list[Any] = []
    problems: list[str] = []  # other parameters are not ours (Gradio's own ``__theme``, ``view``): left alone
    for name, control in zip(names, controls, strict=True):
        raw = query.get(name)
        if raw is None:
            values.append(None)
            continue
        try:
            values.append(_value(control, raw))
        except ValueError as err:
            values.append(None)
            problems.append(f"`{name}={raw[:40]}` ({err})")
    return values, problems
