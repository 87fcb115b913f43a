"""Media the project makes itself (deterministic, license-clean) and the example prompts that use them.

Contract: each ``make_*`` function writes one file into a folder and returns its path; the
facts each picture shows are known (a chart's values, a card's text, where things are), so
answers can be checked. ``EXAMPLES`` pairs prompts with those files; ``python -m
inference.inputs.samples --out examples`` writes the files the app ships. ``EVALUATION`` is the
built-in prompt set of ``inference.evaluation.evaluate``: prompts over these media with the words a
correct reply contains; ``write_evaluation_set(folder)`` writes its media and ``prompts.jsonl``.
Videos are H.264 (PyAV's bundled libx264) so browsers play them too.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CHART_VALUES = {"Mon": 3, "Tue": 7, "Wed": 5, "Thu": 9, "Fri": 4}
CARD_TEXT = "Qwen3.5 reads\n16 px patches"
RECEIPT_TEXT = "CAFE LUMEN\nTotal: 42.50 EUR"
DOTS = 4  # yellow discs in dots.png


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


def make_dots(folder: Path, count: int = DOTS, name: str = "dots.png") -> Path:
    """``count`` yellow discs in a row on a dark grey card (448x224)."""
    img = Image.new("RGB", (448, 224), (60, 60, 70))
    draw = ImageDraw.Draw(img)
    slot = 448 // count
    for i in range(count):
        cx = slot * i + slot // 2
        draw.ellipse((cx - 30, 82, cx + 30, 142), fill=(250, 210, 40))
    path = folder / name
    img.save(path)
    return path


def make_clip(
    folder: Path,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    name: str = "clip.mp4",
    direction: str = "right",
) -> Path:
    """A white square crossing a dark frame (``direction``: "right" from the left edge, "down"
    from the top), H.264 in MP4."""
    import av

    if direction not in ("right", "down"):
        raise ValueError(f"direction must be 'right' or 'down', not {direction!r}")
    w, h = size
    path = folder / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        frames = round(seconds * fps)
        for i in range(frames):
            arr = np.full((h, w, 3), 30, np.uint8)
            along = i / max(frames - 1, 1)
            if direction == "right":
                x = int((w - 40) * along)
                arr[h // 2 - 20 : h // 2 + 20, x : x + 40] = 255
            else:
                y = int((h - 40) * along)
                arr[y : y + 40, w // 2 - 20 : w // 2 + 20] = 255
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
Maker = Callable[..., Path]  # ``make(folder, name=...)``: writes one sample file, returns its path
MAKERS: dict[str, Maker] = {
    "scene.png": make_scene,
    "chart.png": make_chart,
    "card.png": make_card,
    "clip.mp4": make_clip,
}


@dataclass(frozen=True)
class EvalPrompt:
    id: str
    text: str
    files: tuple[str, ...] = ()  # names in the set's folder
    expect: tuple[str, ...] = ()  # regular expressions a correct reply matches, each as a whole word


EVALUATION = (
    EvalPrompt("chart-max", "Which day had the most orders, and how many?", ("chart.png",), ("thu(rsday)?", "9|nine")),
    EvalPrompt("chart-wed", "How many orders were there on Wednesday?", ("chart.png",), ("5|five",)),
    EvalPrompt("chart-min", "Which day had the fewest orders?", ("chart.png",), ("mon(day)?",)),
    EvalPrompt("card-read", "Read the text on this card exactly.", ("card.png",), (r"qwen3\.5", "16", "patches")),
    EvalPrompt("receipt-total", "What is the total on this receipt?", ("receipt.png",), (r"42[.,]50",)),
    EvalPrompt("dots-count", "How many yellow circles are there?", ("dots.png",), ("4|four",)),
    EvalPrompt("scene-left", "What colour is the shape on the left?", ("scene.png",), ("red",)),
    EvalPrompt("clip-right", "Which way does the white square move?", ("clip.mp4",), ("right(wards?)?",)),
    EvalPrompt("clip-down", "In which direction does the white square move?", ("clip-down.mp4",), ("down(wards?)?",)),
    EvalPrompt("sum", "What is 17 + 25? Answer with the number only.", (), ("42",)),
    EvalPrompt("capital", "What is the capital of France? One word.", (), ("paris",)),
    EvalPrompt("softmax", "Write the softmax function in LaTeX and explain it in two sentences."),
)
EVALUATION_MAKERS: dict[str, Maker] = {
    **MAKERS,
    "receipt.png": lambda folder, name: make_card(folder, RECEIPT_TEXT, name),
    "dots.png": make_dots,
    "clip-down.mp4": lambda folder, name: make_clip(folder, name=name, direction="down"),
}


def write_evaluation_set(folder: Path) -> Path:
    """The built-in evaluation set in ``folder``: its media and ``prompts.jsonl`` (returned)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted({f for p in EVALUATION for f in p.files}):
        EVALUATION_MAKERS[name](folder, name=name)
    path = folder / "prompts.jsonl"
    lines = [
        json.dumps({"id": p.id, "text": p.text, "files": list(p.files), "expect": list(p.expect)}) for p in EVALUATION
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description="Write the example media the app ships.")
    p.add_argument("--out", type=Path, required=True)
    out = p.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, make in MAKERS.items():
        print(make(out, name=name))


if __name__ == "__main__":
    main()
