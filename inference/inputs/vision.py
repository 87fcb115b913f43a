"""How many visual tokens each image and video costs Qwen3.5, and the budget that decides it.

Contract: pure functions over sizes, no pixels. Qwen3.5 cuts images into 16 px patches and
merges 2x2 of them into one token, so resized sides are multiples of ``FACTOR`` (32 px); a
video also packs ``TEMPORAL`` (2) frames into one temporal patch. ``VisualBudget`` holds the
user's limits; ``processor_kwargs`` turns them into the per-request arguments vLLM hands to
the model's own Hugging Face processor (which does the resizing, so the pixels are the
reference's by construction); ``plan_image``/``plan_video`` predict, with the same
``smart_resize`` functions transformers' processor uses, the size and grid each file gets.
Sizes the processor would refuse (aspect ratio over ``MAX_ASPECT``) raise ``DemoError``.
Importing this module does not import torch (transformers' resize helpers do, so they are
imported on first use): a CPU process must set its OpenMP settings before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.errors import DemoError

PATCH = 16  # pixels per patch side
MERGE = 2  # patches merged per side into one token
FACTOR = PATCH * MERGE  # resized sides are multiples of this: one token per FACTOR x FACTOR pixels
TEMPORAL = 2  # frames per temporal patch
MAX_ASPECT = 200  # the processor refuses longer/shorter side ratios above this
VIDEO_MIN_PIXELS = 4096  # Qwen3.5's video processor floor (``shortest_edge``), all frames together
# Per-frame cap in tokens: the processor's ``max_video_tokens`` (768 in Qwen3.5's config). The app
# asks for the capped resize (``cap_pixels_per_frame``), as Qwen's reference loader (qwen-vl-utils)
# does and as transformers will by default from 5.22; uncapped, a short clip costs more tokens.
FRAME_CAP_TOKENS = 768


@dataclass(frozen=True)
class VisualBudget:
    """Limits on visual tokens; Qwen's guidance: images 256..1280 tokens, a video up to 16384."""

    image_min_tokens: int = 256
    image_max_tokens: int = 1280
    video_max_tokens: int = 16384  # all frames of one video together

    def __post_init__(self) -> None:
        if not 1 <= self.image_min_tokens <= self.image_max_tokens:
            raise DemoError("The image budget needs 1 <= min tokens <= max tokens.")
        if self.video_max_tokens * FACTOR * FACTOR < VIDEO_MIN_PIXELS:
            raise DemoError(f"The video budget needs at least {VIDEO_MIN_PIXELS // FACTOR**2} tokens.")


def budget_for(context: int | None) -> VisualBudget:
    """The default budget for a context: Qwen's guidance allows a video 16384 tokens; never more
    than half the context."""
    return VisualBudget(video_max_tokens=min(16384, (context or 32768) // 2))


def processor_kwargs(budget: VisualBudget) -> dict[str, Any]:
    """Per-request arguments for the HF processor (vLLM's ``mm_processor_kwargs``)."""
    px = FACTOR * FACTOR
    return {
        "images_kwargs": {
            "size": {"shortest_edge": budget.image_min_tokens * px, "longest_edge": budget.image_max_tokens * px}
        },
        "videos_kwargs": {
            "size": {"shortest_edge": VIDEO_MIN_PIXELS, "longest_edge": budget.video_max_tokens * px},
            "cap_pixels_per_frame": True,
        },
    }


@dataclass(frozen=True)
class Plan:
    """What one file becomes: its resized frame size and its token grid."""

    height: int  # resized, a multiple of FACTOR
    width: int
    frames: int  # 1 for an image; an even count for a video
    grid: tuple[int, int, int]  # (temporal, height, width) in patches, as the processor's *_grid_thw

    @property
    def tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w // (MERGE * MERGE)


def _check_aspect(height: int, width: int, name: str) -> None:
    if min(height, width) < 1:
        raise DemoError(f"{name}: the picture is empty ({width}x{height}).")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise DemoError(
            f"{name}: {width}x{height} is too elongated for Qwen3.5 (aspect ratio over {MAX_ASPECT}:1); crop it first."
        )


def plan_image(height: int, width: int, budget: VisualBudget, name: str = "image") -> Plan:
    """The size Qwen3.5's processor resizes a ``height``×``width`` image to within ``budget``, and its
    patch grid; ``DemoError`` (naming ``name``) for an empty or too elongated picture."""
    _check_aspect(height, width, name)
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as image_resize

    px = FACTOR * FACTOR
    h, w = image_resize(height, width, FACTOR, budget.image_min_tokens * px, budget.image_max_tokens * px)
    return Plan(h, w, 1, (1, h // PATCH, w // PATCH))


def plan_video(frames: int, height: int, width: int, budget: VisualBudget, name: str = "video") -> Plan:
    """The frame size Qwen3.5's video processor resizes ``frames`` sampled frames to within ``budget``
    (its per-frame cap included), and the patch grid; ``DemoError`` as ``plan_image``."""
    _check_aspect(height, width, name)
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize as video_resize

    px = FACTOR * FACTOR  # the processor's per-frame cap, as in Qwen3VLVideoProcessor.resize
    per_frame = max(min(FRAME_CAP_TOKENS * px, budget.video_max_tokens * px // frames), int(VIDEO_MIN_PIXELS * 1.05))
    h, w = video_resize(frames, height, width, TEMPORAL, FACTOR, VIDEO_MIN_PIXELS, per_frame * frames)
    return Plan(h, w, frames, (frames // TEMPORAL, h // PATCH, w // PATCH))
