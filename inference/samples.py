"""Media the project makes itself (deterministic, license-clean) and the example prompts that use them.

Contract: each ``make_*`` function writes one file into a folder and returns its path; the
facts each picture shows are known (a chart's values, a card's text, where things are), so
answers can be checked. ``EXAMPLES`` pairs prompts with those files; ``python -m
inference.samples --out examples`` writes the files the app ships. Videos are H.264 (PyAV's
bundled libx264) so browsers play them too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CHART_VALUES = {"Mon": 3, "Tue": 7, "Wed": 5, "Thu": 9, "Fri": 4}
CARD_TEXT = "Qwen3.5 reads\n16 px patches"


def make_scene(folder: Path, size: tuple[int, int] = (448, 336), name: str = "scene.png") -> Path:
    """A red disc left of a blue square on a light background."""
    w, h = size
    img = Image.new("RGB", size, (235, 235, 225))
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.1, h * 0.3, w * 0.4, h * 0.7), fill=(220, 30, 30))
    draw.rectangle((w * 0.6, h * 0.3, w * 0.9, h * 0.7), fill=(30, 60, 220))
    path = folder / name
    img.save(path)
    return path


def make_chart(folder: Path, values: dict[str, int] = CHART_VALUES, name: str = "chart.png") -> Path:
    """A labelled bar chart of ``values`` (640x448: a 20x14 grid of 32 px merged patches)."""
    w, h, top = 640, 448, max(values.values())
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    draw.text((w // 2, 24), "Orders per day", fill="black", font=font, anchor="mm")
    base, slot = h - 48, (w - 80) // len(values)
    draw.line((40, base, w - 40, base), fill="black", width=2)
    for i, (label, v) in enumerate(values.items()):
        x0 = 40 + i * slot + slot // 5
        y0 = base - int((base - 70) * v / top)
        draw.rectangle((x0, y0, x0 + slot * 3 // 5, base), fill=(40, 110, 200))
        draw.text((x0 + slot * 3 // 10, y0 - 14), str(v), fill="black", font=font, anchor="mm")
        draw.text((x0 + slot * 3 // 10, base + 22), label, fill="black", font=font, anchor="mm")
    path = folder / name
    img.save(path)
    return path


def make_card(folder: Path, text: str = CARD_TEXT, name: str = "card.png") -> Path:
    """Dark text on a pale card (512x256)."""
    img = Image.new("RGB", (512, 256), (250, 244, 220))
    draw = ImageDraw.Draw(img)
    draw.multiline_text((256, 128), text, fill=(20, 20, 60), font=ImageFont.load_default(size=44), anchor="mm")
    path = folder / name
    img.save(path)
    return path


def make_clip(
    folder: Path, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (320, 240), name: str = "clip.mp4"
) -> Path:
    """A white square crossing a dark frame from left to right, H.264 in MP4."""
    import av

    w, h = size
    path = folder / name
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


@dataclass(frozen=True)
class Example:
    text: str
    files: tuple[str, ...] = ()  # names in the examples folder


EXAMPLES = (
    Example("Which day had the most orders, and how many?", ("chart.png",)),
    Example("Read the text on this card exactly.", ("card.png",)),
    Example("Which way does the white square move?", ("clip.mp4",)),
    Example("Describe the shapes and where they are.", ("scene.png",)),
    Example("Write the softmax function in LaTeX and explain it in two sentences."),
)
MAKERS = {"scene.png": make_scene, "chart.png": make_chart, "card.png": make_card, "clip.mp4": make_clip}


def main() -> None:
    p = argparse.ArgumentParser(description="Write the example media the app ships.")
    p.add_argument("--out", type=Path, required=True)
    out = p.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, make in MAKERS.items():
        print(make(out, name=name))


if __name__ == "__main__":
    main()
