"""Chat turns to vLLM inputs.

Contract: ``UserTurn`` is what a person sent (text and media paths). ``prepare`` loads the
media of a whole conversation once and returns a ``Prepared`` request; ``Prepared.messages``
gives the chat messages for one side, given that side's earlier answers, with one
image/video placeholder per file in order, so the same decoded media serve every side.
Rendering the messages with a model's chat template is the engine's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.errors import DemoError
from inference.inputs.media import VideoOptions, load_image, load_video, media_kind
from inference.inputs.vision import Plan, VisualBudget, plan_image, plan_video, processor_kwargs


@dataclass(frozen=True)
class UserTurn:
    """One message from the user: text and uploaded files, in upload order."""

    text: str
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        names = ", ".join(Path(f).name for f in self.files)
        return f"{self.text} [{names}]" if names else self.text


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings; the same value always goes to every side."""

    max_tokens: int = 256
    temperature: float = 0.0  # greedy: both sides decode deterministically
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    seed: int = 0
    presence_penalty: float = 0.0  # -2..2; 0: off
    repetition_penalty: float = 1.0  # 1: off
    system: str = ""  # system prompt; empty: none
    enable_thinking: bool = False  # Qwen3.5's chat-template switch
    ignore_eos: bool = False  # tests: make a random model emit exactly max_tokens
    # How the comparison times the sides (no engine reads it): "race", every side at once, sharing the
    # hardware; "alone", one side after the other (inference.compare.merge), for honest speed figures.
    timing: str = "race"


@dataclass(frozen=True)
class FilePlan:
    """One uploaded file as the model will see it."""

    name: str
    kind: str  # "image" or "video"
    plan: Plan
    seconds: tuple[float, ...] = ()  # a video's sampled frame times


@dataclass(frozen=True)
class Prepared:
    """A conversation's user turns with their media decoded, ready for any side."""

    turns: tuple[UserTurn, ...]
    multi_modal_data: dict[str, list[Any]] = field(hash=False)
    plans: tuple[FilePlan, ...] = ()  # every file of the conversation, in order
    processor_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)  # vLLM's mm_processor_kwargs

    @property
    def visual_tokens(self) -> int:
        return sum(p.plan.tokens for p in self.plans)

    def since(self, first: int) -> Prepared:
        """The conversation from turn ``first`` on: earlier turns left out with their media."""
        if first == 0:
            return self
        dropped = [f for turn in self.turns[:first] for f in turn.files]
        data = dict(self.multi_modal_data)
        for kind in set(map(media_kind, dropped)):
            data[kind] = data[kind][sum(media_kind(f) == kind for f in dropped) :]
        data = {kind: media for kind, media in data.items() if media}
        plans = self.plans[len(dropped) :]
        return Prepared(self.turns[first:], data, plans, self.processor_kwargs if plans else {})

    def messages(self, answers: Sequence[str], system: str = "") -> list[dict[str, Any]]:
        """Chat messages for one side: every user turn, followed by that side's answer."""
        if len(answers) != len(self.turns) - 1:
            raise ValueError(f"need {len(self.turns) - 1} earlier answers, got {len(answers)}")
        out: list[dict[str, Any]] = []
        if system.strip():
            out.append({"role": "system", "content": system.strip()})
        for i, turn in enumerate(self.turns):
            parts: list[dict[str, Any]] = [{"type": media_kind(f)} for f in turn.files]
            if turn.text:
                parts.append({"type": "text", "text": turn.text})
            out.append({"role": "user", "content": parts})
            if i < len(answers):
                out.append({"role": "assistant", "content": [{"type": "text", "text": answers[i]}]})
        return out


def plan_file(path: str, video: VideoOptions, budget: VisualBudget) -> tuple[FilePlan, Any]:
    """Decode one file (cached) and predict what it costs: ``(plan, decoded media)``."""
    name = Path(path).name
    if media_kind(path) == "image":
        image = load_image(path)
        return FilePlan(name, "image", plan_image(image.height, image.width, budget, name)), image
    frames, meta = load_video(path, video)
    t, h, w = frames.shape[:3]
    seconds = tuple(i / meta["fps"] for i in meta["frames_indices"]) if meta["fps"] > 0 else ()
    return FilePlan(name, "video", plan_video(t, h, w, budget, name), seconds), (frames, meta)


def prepare(
    turns: Sequence[UserTurn],
    video: VideoOptions = VideoOptions(),
    limits: Mapping[str, int] | None = None,
    budget: VisualBudget = VisualBudget(),
    context: int | None = None,
    max_tokens: int = 0,
) -> Prepared:
    """Validate the turns, decode every file once (cached across turns) and plan its tokens.

    ``limits`` caps the images and videos one request may hold (vLLM's
    ``limit_mm_per_prompt``); ``context``: the model's context length, which the latest turn's
    visual tokens plus ``max_tokens`` must fit. Both are checked for the latest turn alone:
    which earlier turns still fit beside it is ``inference.compare.window``'s decision.
    """
    if not turns:
        raise ValueError("a conversation needs at least one turn")
    last = turns[-1]
    if not last.text.strip() and not last.files:
        raise DemoError("Type a message or attach an image or video.")
    kinds: list[str] = [media_kind(f) for f in last.files]
    for kind, limit in (limits or {}).items():
        if (count := kinds.count(kind)) > limit:
            raise DemoError(f"This turn holds {count} {kind}s; one request takes at most {limit}. Send fewer files.")
    data: dict[str, list[Any]] = {}
    plans = []
    for turn in turns:
        for path in turn.files:
            plan, media = plan_file(path, video, budget)
            plans.append(plan)
            data.setdefault(plan.kind, []).append(media)
    prepared = Prepared(tuple(turns), data, tuple(plans), processor_kwargs(budget) if plans else {})
    own = prepared.since(len(turns) - 1).visual_tokens  # the latest turn's
    if context is not None and own + max_tokens > context:
        raise DemoError(
            f"The media of this turn need {own} visual tokens; with {max_tokens} new tokens that exceeds the "
            f"model's context of {context} tokens. Lower the image or video budget, fewer frames or max new "
            "tokens (Settings)."
        )
    return prepared
