"""Pictures of what the model sees: the merged-patch grid over a resized image, a video's sampled frames.

Contract: pure Pillow drawing, no Gradio. ``grid_preview(image, plan)`` resizes the image to
the planned size and draws the 32 px token grid over it; ``frame_strip(frames, plan,
seconds)`` lays the sampled frames out in rows, each stamped with its time, the two frames of
each temporal patch framed in the same colour. ``caption(file_plan)`` says it in words.
``preview_file`` draws the right one for a planned file once and keeps it as a PNG (the
preview is asked for again on every keystroke in the input box) in a scratch folder that
never holds more than ``KEEP_FILES`` of them (``prune``, ``scratch``, ``remove_scratch``). A
scratch folder's name carries its process's id; ``sweep_once`` (at the page's build, else at the
first ``scratch``) removes the folders of processes that are gone (an app killed outright leaves
its folders behind).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.inputs.chat import FilePlan
from inference.inputs.media import VideoOptions, load_image, load_video
from inference.inputs.vision import FACTOR, MERGE, TEMPORAL, Plan

GRID = (255, 0, 160)  # line colour of the token grid
PAIRS = ((0, 150, 255), (255, 170, 0))  # alternating frame colours of temporal patches
THUMB_HEIGHT = 120
PER_ROW = 8


def grid_preview(image: Image.Image, plan: Plan) -> Image.Image:
    """The image at the size the processor gives it, with one cell per visual token."""
    resized = image.resize((plan.width, plan.height), Image.Resampling.BICUBIC).convert("RGBA")
    overlay = Image.new("RGBA", resized.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x in range(0, plan.width + 1, FACTOR):
        draw.line((min(x, plan.width - 1), 0, min(x, plan.width - 1), plan.height), fill=(*GRID, 150))
    for y in range(0, plan.height + 1, FACTOR):
        draw.line((0, min(y, plan.height - 1), plan.width, min(y, plan.height - 1)), fill=(*GRID, 150))
    return Image.alpha_composite(resized, overlay).convert("RGB")


def frame_strip(frames: np.ndarray, plan: Plan, seconds: Sequence[float]) -> Image.Image:
    """The sampled frames in rows of ``PER_ROW``, with their times; each temporal patch in one colour."""
    scale = THUMB_HEIGHT / plan.height
    tw, th = max(1, round(plan.width * scale)), THUMB_HEIGHT
    pad, label = 4, 18
    rows = -(-len(frames) // PER_ROW)
    cols = min(len(frames), PER_ROW)
    strip = Image.new("RGB", (cols * (tw + 2 * pad), rows * (th + 2 * pad + label)), "white")
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default(size=14)
    for i, frame in enumerate(frames):
        r, c = divmod(i, PER_ROW)
        x, y = c * (tw + 2 * pad), r * (th + 2 * pad + label)
        colour = PAIRS[(i // TEMPORAL) % len(PAIRS)]
        draw.rectangle((x, y, x + tw + 2 * pad - 1, y + th + 2 * pad - 1), fill=colour)
        thumb = Image.fromarray(frame).resize((tw, th), Image.Resampling.BILINEAR)
        strip.paste(thumb, (x + pad, y + pad))
        stamp = f"{seconds[i]:.1f} s" if i < len(seconds) else f"#{i}"
        draw.text((x + pad, y + th + 2 * pad), stamp, fill="black", font=font)
    return strip


def caption(fp: FilePlan) -> str:
    p = fp.plan
    _, gh, gw = p.grid
    cells = f"{gw // MERGE}×{gh // MERGE}"  # columns x rows, like the pixel size
    if fp.kind == "image":
        return f"{fp.name}: {p.width}×{p.height} px → {cells} tokens = {p.tokens}"
    span = f", {fp.seconds[0]:.1f}–{fp.seconds[-1]:.1f} s" if fp.seconds else ""
    return (
        f"{fp.name}: {p.frames} frames{span} at {p.width}×{p.height} px → "
        f"{p.frames // TEMPORAL} temporal patches × {cells} tokens = {p.tokens}"
    )


PREVIEW_CACHE = 16  # previews remembered (paths handed out)
KEEP_FILES = 4 * PREVIEW_CACHE  # PNGs kept on disk: every remembered one is among the newest


def prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest entries of ``folder`` (files or folders), so a long-running
    app's scratch space stays bounded. Gradio has copied anything handed to it long before. Safe
    beside another prune of the same folder (handlers run in threads)."""

    def age(entry: Path) -> float:
        try:
            return entry.stat().st_mtime
        except FileNotFoundError:  # pruned by another handler meanwhile
            return 0.0

    for old in sorted(folder.iterdir(), key=age, reverse=True)[keep:]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


_SCRATCH: dict[str, Path] = {}


SCRATCH_NAME = re.compile(r"qwen-demo-[a-z-]+?-pid(\d+)-")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's counts: signalling it is refused, not failed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` whose process is gone; returns them."""
    gone = []
    for folder in root.glob("qwen-demo-*"):
        named = SCRATCH_NAME.match(folder.name)
        if named and folder.is_dir() and not alive(int(named[1])):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone


@cache
def sweep_once() -> None:
    """``sweep`` the temp folder, once a process: ``ui.serve.build`` calls it before the page is
    served (so no handler does it on the server's loop), ``scratch`` for any other process."""
    sweep(Path(tempfile.gettempdir()))


def scratch(kind: str) -> Path:
    """This process's folder for ``kind`` (previews, exports); ``remove_scratch`` removes them all."""
    sweep_once()
    if kind not in _SCRATCH:
        _SCRATCH[kind] = Path(tempfile.mkdtemp(prefix=f"qwen-demo-{kind}-pid{os.getpid()}-"))
        atexit.register(shutil.rmtree, _SCRATCH[kind], True)
    return _SCRATCH[kind]


def remove_scratch() -> None:
    """Remove every scratch folder now (for an exit that skips ``atexit``, such as ``os._exit``)."""
    while _SCRATCH:
        shutil.rmtree(_SCRATCH.popitem()[1], ignore_errors=True)


@lru_cache(maxsize=PREVIEW_CACHE)
def preview_file(path: str, fp: FilePlan, video: VideoOptions) -> str:
    """The preview of one planned file as a PNG path (drawn once per file, plan and options)."""
    if fp.kind == "image":
        picture = grid_preview(load_image(path), fp.plan)
    else:
        frames, _ = load_video(path, video)
        picture = frame_strip(frames, fp.plan, fp.seconds)
    folder = scratch("preview")
    with tempfile.NamedTemporaryFile(dir=folder, prefix="preview-", suffix=".png", delete=False) as out:
        picture.save(out, format="PNG")
    prune(folder, KEEP_FILES)
    return out.name
