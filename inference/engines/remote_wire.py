"""The wire format of an OpenAI-compatible vLLM server: what ``RemoteEngine`` sends and parses.

Contract: pure functions, no I/O. ``chat_request`` is the streaming ``/chat/completions`` body
for one ``Prepared`` turn: images as lossless PNG data URLs (``image_url``), each video as the
frames the in-process path sampled (``video_url``: a ``video/jpeg`` data URL) with their metadata
in ``media_io_kwargs`` (``video_io_kwargs``) and the visual budget in ``mm_processor_kwargs``,
the in-process engine's sampling settings, and token ids and log-probabilities asked for
(``vllm=False``: OpenAI's standard fields alone, for a server that is not vLLM).
``metric`` and ``kv_cache_tokens`` read a ``/metrics`` page (Prometheus text);
``error_message`` the message of an error body.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inference.inputs.chat import GenerationSettings, Prepared

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger(__name__)

JPEG_QUALITY = 95  # video frames travel as JPEG: the one format vLLM takes frames in


def _data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def image_url(image: Image.Image) -> str:
    """A decoded (upright RGB) image as a PNG data URL: lossless, so the server sees the same pixels."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return _data_url("image/png", buf.getvalue())


def video_url(frames: np.ndarray) -> str:
    """Sampled frames ``(T, H, W, 3)`` as vLLM's ``video/jpeg`` data URL: base64 JPEGs joined by commas."""
    from PIL import Image

    parts = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_QUALITY)
        parts.append(base64.b64encode(buf.getvalue()).decode())
    return "data:video/jpeg;base64," + ",".join(parts)


def video_io_kwargs(metas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``media_io_kwargs["video"]``: the metadata the in-process path hands the processor.

    vLLM takes one set per request, not per video: exact when the request's videos share it
    (one video, the usual case); otherwise every video is described by the first one's frame
    rate between its samples (timestamps approximate, frames and token counts still exact).
    """
    first = metas[0]
    keys = ("fps", "frames_indices", "total_num_frames", "duration")
    if all(all(m[k] == first[k] for k in keys) for m in metas):
        exact = {k: first[k] for k in keys}
        return {"num_frames": -1, "do_sample_frames": False, **exact}
    idx, fps = first["frames_indices"], first["fps"]
    spacing = (idx[-1] - idx[0]) / (len(idx) - 1) / fps if fps > 0 and len(idx) > 1 else 0
    log.warning("videos of one request differ in frame rate; timestamps approximated for the server")
    return {"num_frames": -1, "do_sample_frames": False, "fps": 1 / spacing if spacing > 0 else 1.0}


def chat_messages(prepared: Prepared, answers: Sequence[str], system: str) -> list[dict[str, Any]]:
    """``Prepared.messages`` with each image/video placeholder replaced by its data URL, in order."""
    media = {kind: iter(items) for kind, items in prepared.multi_modal_data.items()}
    messages = prepared.messages(answers, system=system)
    for message in messages:
        if not isinstance(message["content"], list):
            continue
        for i, part in enumerate(message["content"]):
            if part["type"] == "image":
                message["content"][i] = {"type": "image_url", "image_url": {"url": image_url(next(media["image"]))}}
            elif part["type"] == "video":
                frames, _meta = next(media["video"])
                message["content"][i] = {"type": "video_url", "video_url": {"url": video_url(frames)}}
    return messages


def chat_request(
    model: str, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings, *, vllm: bool = True
) -> dict[str, Any]:
    """The ``/chat/completions`` body for one turn: the in-process engine's prompt and sampling settings
    (``vllm=False``: those of OpenAI's API alone, which a server that is not vLLM may insist on)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(prepared, answers, settings.system),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "seed": settings.seed,
        "presence_penalty": settings.presence_penalty,
        "logprobs": True,  # the chosen token's own log-probability, for the divergence figures
        "top_logprobs": 0,
    }
    if not vllm:
        return body
    body |= {  # vLLM's own fields: the rest of the in-process engine's settings, and token ids
        "top_k": settings.top_k,
        "repetition_penalty": settings.repetition_penalty,
        "ignore_eos": settings.ignore_eos,
        "return_token_ids": True,  # prompt ids on the first chunk, each chunk's new ids
        "chat_template_kwargs": {"enable_thinking": settings.enable_thinking},
    }
    if prepared.multi_modal_data:
        body["mm_processor_kwargs"] = prepared.processor_kwargs
    if videos := prepared.multi_modal_data.get("video"):
        body["media_io_kwargs"] = {"video": video_io_kwargs([meta for _, meta in videos])}
    return body


def metric(text: str, name: str) -> float | None:
    """The sum of a Prometheus metric's samples (all label sets) in a ``/metrics`` page."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(rf"{re.escape(name)}[{{ ]", line)]
    return sum(values) if values else None


def kv_cache_tokens(text: str) -> int | None:
    """Tokens the KV cache holds, from ``cache_config_info``'s labels in a ``/metrics`` page: vLLM's own
    count (``kv_cache_size_tokens``, what it logs as "KV cache size"), else blocks × block size, which
    overstates it for a hybrid model whose Gated DeltaNet states share the blocks."""
    info = [line for line in text.splitlines() if "cache_config_info{" in line]
    labels = dict(re.findall(r'(\w+)="([^"]*)"', info[0])) if info else {}
    if labels.get("kv_cache_size_tokens", "").isdigit():
        return int(labels["kv_cache_size_tokens"])
    if labels.get("num_gpu_blocks", "").isdigit() and labels.get("block_size", "").isdigit():
        return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
    return None


def error_message(body: bytes | str) -> str:
    """The message of a vLLM/OpenAI error body (``{"error": {"message": …}}``), else the raw text."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return (body.decode(errors="replace") if isinstance(body, bytes) else str(body))[:500]
    error = data.get("error", data) if isinstance(data, dict) else data
    return str(error.get("message", error) if isinstance(error, dict) else error)[:500]
