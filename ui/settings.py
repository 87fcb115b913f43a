"""The settings panel's one schema: every setting a user picks, once, and what is derived from it.

Contract: ``SETTINGS`` lists each setting in the handlers' (and the API's) parameter order: its
name (the parameter's, the API's and the page link's, ``ui.presets``), label, control kind and
bounds, the panel row it sits in (``ROWS``), and the field of ``GenerationSettings``,
``VideoOptions`` or ``VisualBudget`` it sets, whose value is the control's default. From it:
``control`` builds a setting's Gradio component, ``defaults`` the panel's values for the app's
own settings, and ``parse`` the settings of a turn from the panel's values (a dict by name: what a
handler's ``values`` receives, ``ui.gradio_adapter.bind``, while the API takes one named
parameter per setting). Adding a setting is one ``Setting(...)`` line here (and the field it sets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import gradio as gr

from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings
from inference.inputs.media import VideoOptions
from inference.inputs.vision import VisualBudget

Kind = Literal["slider", "number", "checkbox", "text", "radio"]
TIMINGS = (("race: both at once, sharing the hardware", "race"), ("each alone: one after the other", "alone"))


def _text(value: Any) -> str:
    return value or ""  # a cleared text box: no system prompt


def _timing(value: Any) -> str:
    if value not in {v for _, v in TIMINGS}:
        raise ValueError(f"timing {value!r} is not one of {', '.join(v for _, v in TIMINGS)}")
    return cast(str, value)  # one of ``TIMINGS``' values


def _even_frames(value: Any) -> int:
    return max(2, int(value) // 2 * 2)  # a temporal patch is 2 frames


@dataclass(frozen=True)
class Setting:
    name: str  # the handlers' parameter, the API's and the page link's (``?max_tokens=64``)
    sets: str  # "<source>.<field>" it sets (source: settings, video, budget); the app's value there is the default
    cast: Callable[[Any], Any]  # the control's value as the field's; TypeError/ValueError when it has none
    label: str
    row: int  # index into ``ROWS``
    kind: Kind = "slider"  # slider, number (a whole number), checkbox, text, radio (``choices``)
    bounds: tuple[float, float, float] | None = None  # a slider's minimum, maximum and step
    elem_id: str | None = None  # for browser tests and the page's CSS
    previewed: bool = False  # the input box's preview (visual tokens against the context) depends on it
    choices: tuple[tuple[str, str], ...] = ()  # a radio's (label, value) pairs


@dataclass(frozen=True)
class Row:
    heading: str = ""  # Markdown above the row
    side_by_side: bool = True  # False: its one control spans the panel


VISUAL_HEADING = "**What the model sees** (32 px per visual token; a temporal patch is 2 frames)"
ROWS = (Row(), Row(), Row(side_by_side=False), Row(VISUAL_HEADING))
THINKING = "Thinking (Qwen3.5 reasons before it replies)"

# Defaults are fair: greedy, fixed seed, no penalties (``GenerationSettings``).
SETTINGS = (
    Setting(
        "max_tokens",
        "settings.max_tokens",
        int,
        "Max new tokens",
        0,
        bounds=(1, 8192, 1),
        elem_id="max-tokens",
        previewed=True,
    ),
    Setting("temperature", "settings.temperature", float, "Temperature (0: greedy)", 0, bounds=(0, 2, 0.05)),
    Setting("top_p", "settings.top_p", float, "Top-p", 0, bounds=(0.05, 1, 0.05)),
    Setting("top_k", "settings.top_k", int, "Top-k (0: off)", 0, bounds=(0, 200, 1)),
    Setting("seed", "settings.seed", int, "Seed", 0, kind="number"),
    Setting("presence_penalty", "settings.presence_penalty", float, "Presence penalty", 1, bounds=(-2, 2, 0.1)),
    Setting(
        "repetition_penalty",
        "settings.repetition_penalty",
        float,
        "Repetition penalty (1: off)",
        1,
        bounds=(1, 2, 0.05),
    ),
    Setting("system", "settings.system", _text, "System prompt", 2, kind="text"),
    Setting("enable_thinking", "settings.enable_thinking", bool, THINKING, 1, kind="checkbox", elem_id="thinking"),
    Setting("timing", "settings.timing", _timing, "Timing", 1, kind="radio", elem_id="timing", choices=TIMINGS),
    Setting(
        "image_max_tokens",
        "budget.image_max_tokens",
        int,
        "Image budget (tokens per image)",
        3,
        bounds=(64, 16384, 64),
        elem_id="image-budget",
        previewed=True,
    ),
    Setting(
        "video_fps",
        "video.fps",
        float,
        "Video frames per second",
        3,
        bounds=(0.5, 4, 0.5),
        elem_id="fps",
        previewed=True,
    ),
    Setting(
        "video_max_frames",
        "video.max_frames",
        _even_frames,
        "Max frames per video",
        3,
        bounds=(2, 128, 2),
        previewed=True,
    ),
    Setting(
        "video_max_tokens",
        "budget.video_max_tokens",
        int,
        "Video budget (max tokens per video)",
        3,
        bounds=(128, 32768, 128),
        previewed=True,
    ),
)
NAMES = tuple(s.name for s in SETTINGS)
PREVIEWED = tuple(s.name for s in SETTINGS if s.previewed)


def control(setting: Setting, value: Any, maximum: float | None = None) -> gr.components.Component:
    """The setting's component in the current Blocks, showing ``value``; ``maximum``: a host's cap in
    place of a slider's own (Gradio refuses a larger value from any client)."""
    s = setting
    if s.kind == "slider" and s.bounds is not None:
        low, high, step = s.bounds
        high = high if maximum is None else maximum
        return gr.Slider(low, high, value, step=step, label=s.label, elem_id=s.elem_id)
    if s.kind == "number":
        return gr.Number(value, precision=0, label=s.label, elem_id=s.elem_id)
    if s.kind == "checkbox":
        return gr.Checkbox(value, label=s.label, elem_id=s.elem_id)
    if s.kind == "radio":
        return gr.Radio(list(s.choices), value=value, label=s.label, elem_id=s.elem_id)
    return gr.Textbox(value, label=s.label, lines=2, elem_id=s.elem_id)


def _sources(settings: GenerationSettings, video: VideoOptions, budget: VisualBudget) -> dict[str, Any]:
    """The objects a ``Setting.sets`` names, by source."""
    return {"settings": settings, "video": video, "budget": budget}


def defaults(settings: GenerationSettings, video: VideoOptions, budget: VisualBudget) -> dict[str, Any]:
    """Each setting's value among the app's own, by name (``SETTINGS`` order)."""
    sources = _sources(settings, video, budget)
    return {s.name: getattr(sources[source], field) for s in SETTINGS for source, field in [s.sets.split(".")]}


def parse(
    values: Mapping[str, Any], settings: GenerationSettings, video: VideoOptions, budget: VisualBudget
) -> tuple[GenerationSettings, VideoOptions, VisualBudget]:
    """The app's settings with the panel's ``values`` (by name; any of them) in place of their fields.

    Fields without a control (``ignore_eos``, the longest video, the video decoder) keep the app's
    value; the smallest image budget never exceeds the largest. The sliders keep values in range
    (Gradio checks that too); a cleared number field arrives as ``None`` and is refused with a
    message.
    """
    changes: dict[str, dict[str, Any]] = {"settings": {}, "video": {}, "budget": {}}
    try:
        for s in SETTINGS:
            if s.name in values:
                source, field = s.sets.split(".")
                changes[source][field] = s.cast(values[s.name])
    except (TypeError, ValueError) as err:
        raise DemoError(f"Every setting needs a value ({err}); see Settings.") from err
    if "image_max_tokens" in changes["budget"]:
        changes["budget"]["image_min_tokens"] = min(budget.image_min_tokens, changes["budget"]["image_max_tokens"])
    sources = _sources(settings, video, budget)
    chosen = {k: dataclasses.replace(sources[k], **fields) for k, fields in changes.items()}
    return chosen["settings"], chosen["video"], chosen["budget"]
