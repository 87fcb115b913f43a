"""Turn uploaded files into the inputs vLLM's Qwen3.5 processor expects.

Contract: pure loaders, no UI. ``media_kind`` says whether a path is an image or a video;
``load_image`` returns an upright RGB ``PIL.Image``; ``load_video`` decodes only the frames it
samples, upright (a phone video's display matrix applied), with the backend the options name
(PyAV by default; decord and OpenCV are real alternatives, chosen explicitly, never a silent
fallback), and returns them as a ``(T, H, W, 3)`` uint8 array with the metadata vLLM requires
(``fps``, ``duration``, ``total_num_frames``, ``frames_indices``, ...), the frame count even
(Qwen3.5 packs 2 frames per temporal patch). Resizing is the model's own processor's job (see
``vision``). An image over ``MAX_IMAGE_PIXELS`` is refused from its header, before it is decoded;
decoded images are kept (for the next turn) up to ``IMAGE_CACHE_BYTES`` in all. Every failure is a
``DemoError`` naming the file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
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

# The most pixels an image may have, read from its header before decoding: 50 MP (a 50-megapixel
# phone photo), far below Pillow's bomb limit (179 MP refused, ~0.5 GB decoded) and still over three
# times what the model's largest image budget (16,384 tokens of 32x32 px: 16.8 MP) resizes it to.
MAX_IMAGE_PIXELS = 50_000_000
IMAGE_CACHE_BYTES = 1 << 30  # decoded RGB images kept for the next turns, in all

MediaKind = Literal["image", "video"]
VideoBackend = Literal["decord", "pyav", "opencv"]
VIDEO_BACKENDS: tuple[VideoBackend, ...] = ("decord", "pyav", "opencv")


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled from a video (Qwen3.5's processor default is 2 fps)."""

    fps: float = 2.0  # frames sampled per second of video
    max_frames: int = 32  # upper bound on sampled frames (even)
    max_seconds: float = 600.0  # longer videos are refused
    # pyav: in order with codec threads, only kept frames converted; within 1.2x of a plain full
    # decode on 720p and long-GOP 1080p clips (bench/preprocess.py); decord seeks, one thread
    backend: VideoBackend = "pyav"


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


class _ImageCache:
    """Decoded images by path, the least recently used dropped beyond ``limit`` bytes (thread-safe)."""

    def __init__(self, limit: int):
        self.limit, self.size = limit, 0
        self._items: OrderedDict[str, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> Image.Image | None:
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
            return self._items.get(path)

    def put(self, path: str, image: Image.Image) -> None:
        with self._lock:
            if path not in self._items:
                self._items[path] = image
                self.size += _bytes(image)
            while self.size > self.limit and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self.size -= _bytes(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


def _bytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())


_images = _ImageCache(IMAGE_CACHE_BYTES)


def load_image(path: str) -> Image.Image:
    """Open an image (kept decoded, ``_images``), apply its EXIF orientation, flatten it to RGB (alpha over white)."""
    cached = _images.get(path)
    if cached is None:
        cached = _decode_image(path)
        _images.put(path, cached)
    return cached


load_image.cache_clear = _images.clear  # type: ignore[attr-defined]  # as functools' caches have it


def _decode_image(path: str) -> Image.Image:
    name = Path(path).name
    _check_not_empty(path)
    try:
        with Image.open(path) as opened:
            img: Image.Image = opened
            if img.width * img.height > MAX_IMAGE_PIXELS:  # from the header: nothing decoded yet
                raise DemoError(
                    f"{name}: {img.width}×{img.height} px is more than this demo decodes "
                    f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels); send a smaller image (the model sees at most "
                    "about 17 megapixels)."
                )
            img = ImageOps.exif_transpose(img)
            img.load()
    except Image.DecompressionBombError as err:
        raise DemoError(f"{name}: image is too large to decode safely ({_reason(err, path)}).") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise DemoError(f"{name}: not a readable image ({_reason(err, path)}).") from err
    if img.mode.startswith("I;16"):  # 16-bit grayscale: Pillow's RGB conversion clips it (mostly white)
        img = Image.fromarray((np.asarray(img, np.uint16) >> 8).astype(np.uint8))
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
    return [int(i) for i in np.linspace(0, total_frames - 1, count).round()]


class _Source:
    """An opened video: its frame count and rate, and a way to fetch frames by index."""

    def __init__(self, total: int, fps: float, fetch: Callable[[list[int]], np.ndarray]):
        self.total, self.fps, self.fetch = total, fps, fetch


def _open_decord(path: str) -> _Source:
    import decord

    reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    return _Source(len(reader), float(reader.get_avg_fps()), lambda idx: reader.get_batch(idx).asnumpy())


def _keep(decoded: Iterable[tuple[int, Callable[[], np.ndarray]]], indices: list[int]) -> np.ndarray:
    """Fill the sampled frames, in order, from ``decoded``: ``(index, to_rgb)`` pairs in decode
    order, where ``to_rgb()`` converts that frame (called only for kept ones). Written in place,
    one copy of the kept frames; a file shorter than its header said repeats its last frame."""
    slots: dict[int, list[int]] = {}
    for k, i in enumerate(indices):
        slots.setdefault(i, []).append(k)
    out: np.ndarray | None = None
    filled = 0
    for i, to_rgb in decoded:
        if i in slots:
            rgb = to_rgb()
            if out is None:
                out = np.empty((len(indices), *rgb.shape), np.uint8)
            for k in slots[i]:
                out[k] = rgb
            filled = max(slots[i]) + 1
        if i >= indices[-1]:
            break
    if out is None:
        raise ValueError("no frame could be decoded")
    out[filled:] = out[filled - 1]
    return out


def _upright(frame: Any) -> np.ndarray:  # an av.VideoFrame
    """A PyAV frame as RGB, turned as its display matrix says: phones store portrait video as
    landscape frames plus a quarter turn (decord and OpenCV apply it themselves; PyAV does not)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4  # counter-clockwise quarter turns, as np.rot90 counts them
    return np.rot90(rgb, turns) if turns else rgb


def _open_pyav(path: str) -> _Source:
    """PyAV, decoding in order with codec threads; only the kept frames are converted to RGB.
    Matroska/WebM store no frame count: their packets are counted (demuxed, not decoded), as decord does."""
    import av

    with av.open(path) as probe:
        stream = probe.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        total = stream.frames or sum(1 for packet in probe.demux(stream) if packet.size)

    def fetch(indices: list[int]) -> np.ndarray:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = ((i, lambda f=frame: _upright(f)) for i, frame in enumerate(container.decode(stream)))
            return _keep(decoded, indices)

    return _Source(total, fps, fetch)


def _open_opencv(path: str) -> _Source:
    """OpenCV, grabbing in order and decoding (retrieve) only the kept frames."""
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError("OpenCV cannot open it")
    total, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()

    def fetch(indices: list[int]) -> np.ndarray:
        cap = cv2.VideoCapture(path)

        def retrieve() -> np.ndarray:
            ok, bgr = cap.retrieve()
            if not ok:
                raise ValueError("a grabbed frame could not be decoded")
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

        def grabbed() -> Iterator[tuple[int, Callable[[], np.ndarray]]]:
            i = 0
            while cap.grab():
                yield i, retrieve
                i += 1

        try:
            return _keep(grabbed(), indices)
        finally:
            cap.release()

    return _Source(total, fps, fetch)


OPENERS = {"decord": _open_decord, "pyav": _open_pyav, "opencv": _open_opencv}


@lru_cache(maxsize=2)  # full-resolution frames are large; a request holds at most 2 videos
def load_video(path: str, options: VideoOptions = VideoOptions()) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the sampled frames of a video with ``options.backend`` and describe them for vLLM."""
    name = Path(path).name
    _check_not_empty(path)
    try:
        source = OPENERS[options.backend](path)
    except Exception as err:  # each library raises its own errors
        if _no_video_stream(path):
            raise DemoError(f"{name}: the file has no video stream (audio only?).") from err
        raise DemoError(f"{name}: not a readable video ({_reason(err, path).splitlines()[0][:200]}).") from err
    total, native_fps = source.total, source.fps
    if total < 1:
        raise DemoError(f"{name}: the video has no frames.")
    if native_fps > 0 and total / native_fps > options.max_seconds:
        raise DemoError(
            f"{name}: the video lasts {total / native_fps:.0f} s; this demo takes up to {options.max_seconds:.0f} s."
        )
    indices = sample_indices(total, native_fps, options)
    try:
        frames = source.fetch(indices)
    except Exception as err:
        raise DemoError(f"{name}: could not decode frames {indices[0]}..{indices[-1]} ({_reason(err, path)}).") from err
    metadata = {
        "fps": native_fps,
        "duration": total / native_fps if native_fps > 0 else 0.0,
        "total_num_frames": total,
        "frames_indices": indices,
        "video_backend": options.backend,
        "do_sample_frames": False,
    }
    return frames, metadata
