"""Test media made here, deterministic and license-clean: images, an H.264 clip, broken files.

Contract: each function writes one file under the given directory and returns its path.
Videos are H.264 (PyAV's bundled libx264) so Chromium can play them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def scene_image(directory: Path, size: tuple[int, int] = (448, 336), name: str = "scene.png") -> Path:
    """A red disc left of a blue square on a light background."""
    w, h = size
    img = Image.new("RGB", size, (235, 235, 225))
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.1, h * 0.3, w * 0.4, h * 0.7), fill=(220, 30, 30))
    draw.rectangle((w * 0.6, h * 0.3, w * 0.9, h * 0.7), fill=(30, 60, 220))
    path = directory / name
    img.save(path)
    return path


def moving_square_video(
    directory: Path, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (320, 240), name: str = "clip.mp4"
) -> Path:
    """A white square crossing a dark frame from left to right, H.264 in MP4."""
    import av

    w, h = size
    path = directory / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        frames = round(seconds * fps)
        for i in range(frames):
            arr = np.full((h, w, 3), 30, np.uint8)
            x = int((w - 40) * i / max(frames - 1, 1))
            arr[h // 2 - 20 : h // 2 + 20, x : x + 40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_image(directory: Path, name: str = "broken.png") -> Path:
    """A PNG signature followed by garbage."""
    path = directory / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path
