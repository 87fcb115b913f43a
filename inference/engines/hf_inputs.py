"""A turn as the transformers model takes it: the processor's tensors, and an answer appended to them.

Contract: ``processor_inputs(processor, prompt, prepared, label)`` runs the model's own processor
over the rendered prompt and the decoded media as vLLM calls it (the same images; each video as
the frames already sampled, with their metadata, never sampled again); an input the processor
refuses is a ``DemoError`` naming the side. ``with_tokens(inputs, token_ids)`` appends an
answer's tokens for a teacher-forced pass: text, fully attended. Transformers and torch are
imported inside the functions, not on import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.errors import DemoError
from inference.inputs.chat import Prepared


def processor_inputs(processor: Any, prompt: str, prepared: Prepared, label: str) -> dict[str, Any]:
    """The model's processor over the prompt and the decoded media, as vLLM calls it."""
    from transformers.video_utils import VideoMetadata

    data, kwargs = prepared.multi_modal_data, dict(prepared.processor_kwargs)
    media: dict[str, Any] = {}
    if data.get("image"):
        media["images"] = list(data["image"])
    if data.get("video"):
        media["videos"] = [frames for frames, _ in data["video"]]
        media["video_metadata"] = [
            VideoMetadata(**{k: v for k, v in meta.items() if k != "do_sample_frames"}) for _, meta in data["video"]
        ]
        kwargs["videos_kwargs"] = {**kwargs.get("videos_kwargs", {}), "do_sample_frames": False}
    try:
        return dict(processor(text=[prompt], **media, **kwargs, return_tensors="pt"))
    except (ValueError, TypeError) as err:
        raise DemoError(f"{label}: the input was refused: {err}") from err


def with_tokens(inputs: dict[str, Any], token_ids: Sequence[int]) -> dict[str, Any]:
    """``inputs`` with ``token_ids`` appended after the prompt (a new dict; ``inputs`` is unchanged)."""
    import torch

    ids = inputs["input_ids"]
    extra = torch.tensor([list(token_ids)], dtype=ids.dtype)
    inputs = {**inputs, "input_ids": torch.cat([ids, extra], 1)}
    for key in ("attention_mask", "mm_token_type_ids"):  # the answer is text, fully attended
        if key in inputs:
            fill = torch.ones_like(extra) if key == "attention_mask" else torch.zeros_like(extra)
            inputs[key] = torch.cat([inputs[key], fill.to(inputs[key].dtype)], 1)
    return inputs
