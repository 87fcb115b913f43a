"""Turn uploaded files into the inputs vLLM's Qwen3.5 processor expects.

Contract: pure loaders, no UI. ``media_kind`` says whether a path is an image or a video;
``load_image`` returns an upright RGB ``PIL.Image``; ``load_video`` decodes only the frames it
samples (decord) and returns them as a ``(T, H, W, 3)`` uint8 array with the metadata vLLM
requires (``fps``, ``duration``, ``total_num_frames``, ``frames_indices``, ...), the frame count
even (Qwen3.5 packs 2 frames per temporal patch). Resizing to 32 px multiples is left to
the model's own processor. Every failure is a ``DemoError`` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps

from inference.errors import DemoError

TEMPORAL_PATCH = 2  # frames per temporal patch: sampled frame counts are multiples of this
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"})

MediaKind = Literal["image", "video"]


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled from a video (Qwen3.5's processor default is 2 fps)."""

    fps: float = 2.0  # frames sampled per second of video
    max_frames: int = 32  # upper bound on sampled frames (even)
    max_seconds: float = 600.0  # longer videos are refused


def _reason(err: Exception, path: str) -> str:
    """The library's error text without the server-side path of the upload."""
    return str(err).replace(path, Path(path).name) or type(err).__name__


def _check_not_empty(path: str) -> None:
    try:
        size = Path(path).stat().st_size
    except OSError as err:
        raise DemoError(f"{Path(path).name}: the upload is gone ({_reason(err, path)}); attach it again.") from err
    if size == 0:
        raise DemoError(f"{Path(path).name}: the file is empty (0 bytes).")


def _no_video_stream(path: str) -> bool:
    """Whether PyAV can open the file but finds no video stream in it (an audio-only file)."""
    try:
        import av

        with av.open(path) as container:
            return not container.streams.video
    except Exception:
        return False


def media_kind(path: str | Path) -> MediaKind:
    """Classify an upload by its suffix; anything else is refused with the name shown."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    accepted = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    raise DemoError(f"{Path(path).name}: unsupported file type {suffix or '(none)'}; accepted: {accepted}.")


@lru_cache(maxsize=16)
def load_image(path: str) -> Image.Image:
    """Open an image, apply its EXIF orientation, and flatten it to RGB (alpha over white)."""
    name = Path(path).name
    _check_not_empty(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
    except Image.DecompressionBombError as err:
        raise DemoError(f"{name}: image is too large to decode safely ({_reason(err, path)}).") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise DemoError(f"{name}: not a readable image ({_reason(err, path)}).") from err
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def sample_indices(total_frames: int, native_fps: float, options: VideoOptions) -> list[int]:
    """Evenly spaced frame indices at ``options.fps``, an even count of at least 2."""
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    duration = total_frames / native_fps if native_fps > 0 else 0.0
    wanted = round(duration * options.fps)
    count = max(TEMPORAL_PATCH, min(wanted, options.max_frames, total_frames))
    count -= count % TEMPORAL_PATCH
    return np.linspace(0, total_frames - 1, count).round().astype(int).tolist()


@lru_cache(maxsize=2)  # full-resolution frames are large; a request holds at most 2 videos
def load_video(path: str, options: VideoOptions = VideoOptions()) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the sampled frames of a video with decord and describe them for vLLM."""
    name = Path(path).name
    _check_not_empty(path)
    try:
        import decord

        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        total = len(reader)
        native_fps = float(reader.get_avg_fps())
    except Exception as err:  # decord raises its own DECORDError and RuntimeError alike
        if _no_video_stream(path):
            raise DemoError(f"{name}: the file has no video stream (audio only?).") from err
        raise DemoError(f"{name}: not a readable video ({_reason(err, path).splitlines()[0][:200]}).") from err
    if total < 1:
        raise DemoError(f"{name}: the video has no frames.")
    if native_fps > 0 and total / native_fps > options.max_seconds:
        raise DemoError(
            f"{name}: the video lasts {total / native_fps:.0f} s; this demo takes up to {options.max_seconds:.0f} s."
        )
    indices = sample_indices(total, native_fps, options)
    try:
        frames = reader.get_batch(indices).asnumpy()
    except Exception as err:
        raise DemoError(f"{name}: could not decode frames {indices[0]}..{indices[-1]} ({_reason(err, path)}).") from err
    metadata = {
        "fps": native_fps,
        "duration": total / native_fps if native_fps > 0 else 0.0,
        "total_num_frames": total,
        "frames_indices": indices,
        "video_backend": "decord",
        "do_sample_frames": False,
    }
    return frames, metadata
