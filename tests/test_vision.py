"""Exactness: the token plans equal what transformers' Qwen3.5 processor produces, over a sweep of sizes.

The processor is the tiny checkpoint's own (``Qwen3VLProcessor``, the Qwen3.5 settings), called
with the same per-request budget the app hands vLLM.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.errors import DemoError
from inference.inputs.vision import MAX_ASPECT, VisualBudget, plan_image, plan_video, processor_kwargs

IMAGE_SIZES = [  # (width, height): tiny, odd, common, 4K, 8K, extreme aspect ratios up to 200:1
    (1, 1),
    (2, 3),
    (31, 33),
    (448, 336),
    (640, 448),
    (1023, 769),
    (1920, 1080),
    (3840, 2160),
    (7680, 4320),
    (6400, 32),
    (32, 6400),
    (2000, 10),
    (10, 2000),
]
BUDGETS = [VisualBudget(), VisualBudget(image_min_tokens=64, image_max_tokens=64), VisualBudget(image_max_tokens=16384)]
VIDEO_SHAPES = [(2, 64, 64), (4, 240, 320), (8, 360, 640), (16, 720, 1280), (32, 1080, 1920), (6, 1920, 1080)]
VIDEO_BUDGETS = [VisualBudget(), VisualBudget(video_max_tokens=1024), VisualBudget(video_max_tokens=128)]


@pytest.fixture(scope="module")
def processor(tiny_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_dir / "bf16")


@pytest.mark.parametrize("budget", BUDGETS, ids=["default", "64-tokens", "16384-tokens"])
def test_image_plans_equal_the_processor_grid(processor, budget):
    kwargs = processor_kwargs(budget)["images_kwargs"]
    for w, h in IMAGE_SIZES:
        image = Image.new("RGB", (w, h), (120, 60, 30))
        grid = processor.image_processor(images=[image], **kwargs)
        plan = plan_image(h, w, budget)
        assert list(plan.grid) == grid["image_grid_thw"][0].tolist(), (w, h)
        assert plan.tokens == grid["pixel_values"].shape[0] // 4  # one token per 2x2 patches
        # no bound check of our own: the processor overshoots small budgets where it rounds up
        # (a 2x3 image at min = max = 64 tokens gets 70; 6400x32 gets 113), and the plan follows it


@pytest.mark.parametrize("budget", VIDEO_BUDGETS, ids=["default", "1024-tokens", "128-tokens"])
def test_video_plans_equal_the_processor_grid(processor, budget):
    kwargs = processor_kwargs(budget)["videos_kwargs"]
    for t, h, w in VIDEO_SHAPES:
        frames = np.zeros((t, h, w, 3), np.uint8)
        grid = processor.video_processor(
            videos=[frames], do_sample_frames=False, input_data_format="channels_last", **kwargs
        )
        plan = plan_video(t, h, w, budget)
        assert list(plan.grid) == grid["video_grid_thw"][0].tolist(), (t, h, w)
        assert plan.tokens <= budget.video_max_tokens


def test_aspect_ratio_over_the_limit_is_refused_like_the_processor_does(processor):
    assert plan_image(10, 10 * MAX_ASPECT, VisualBudget()).tokens > 0  # exactly 200:1 is accepted
    with pytest.raises(DemoError, match="too elongated"):
        plan_image(10, 10 * MAX_ASPECT + 10, VisualBudget(), "banner.png")
    with pytest.raises(ValueError, match="aspect ratio"):
        processor.image_processor(images=[Image.new("RGB", (2010, 10))])


@pytest.mark.parametrize("name", ["chart.png", "scene.png", "card.png"])
def test_pixels_match_qwens_reference_path_within_tolerance(processor, name):
    """Ours: the upright RGB image, resized by the model's processor under our budget (what vLLM
    runs). Qwen's reference: qwen-vl-utils resizes with Pillow first, then the processor.
    Same grid; pixel values (normalised to -1..1) differ by at most one 8-bit step."""
    from pathlib import Path

    from qwen_vl_utils import fetch_image

    from inference.inputs.media import load_image

    path = str(Path(__file__).resolve().parents[1] / "examples" / name)
    budget = VisualBudget()
    kwargs = processor_kwargs(budget)["images_kwargs"]
    ours = processor.image_processor(images=[load_image(path)], **kwargs)
    px = 32 * 32
    reference_image = fetch_image(
        {"image": path, "min_pixels": budget.image_min_tokens * px, "max_pixels": budget.image_max_tokens * px},
        image_patch_size=16,
    )
    reference = processor.image_processor(images=[reference_image], **kwargs)
    assert ours["image_grid_thw"].tolist() == reference["image_grid_thw"].tolist()
    diff = (ours["pixel_values"] - reference["pixel_values"]).abs()
    # stated tolerance: one 8-bit step (2/255 in -1..1) at most; measured mean 0, max 0.0078
    assert diff.max().item() <= 2 / 255 + 1e-6
