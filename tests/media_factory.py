"""Test media: the project's own sample media (``inference.samples``) plus broken files.

Contract: each function writes one file under the given directory and returns its path.
"""

from __future__ import annotations

from pathlib import Path

from inference.samples import make_clip, make_scene


def scene_image(directory: Path, size: tuple[int, int] = (448, 336), name: str = "scene.png") -> Path:
    """A red disc left of a blue square on a light background."""
    return make_scene(directory, size, name)


def moving_square_video(
    directory: Path, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (320, 240), name: str = "clip.mp4"
) -> Path:
    """A white square crossing a dark frame from left to right, H.264 in MP4."""
    return make_clip(directory, seconds, fps, size, name)


def corrupt_image(directory: Path, name: str = "broken.png") -> Path:
    """A PNG signature followed by garbage."""
    path = directory / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path
