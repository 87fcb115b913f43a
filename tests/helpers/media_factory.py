"""Test media: the project's own sample media (``inference.inputs.samples``) plus broken files.

Contract: each function writes one file under the given directory and returns its path.
"""

from __future__ import annotations

from pathlib import Path

from inference.inputs.samples import make_clip, make_scene


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


def bad_inputs(directory: Path) -> dict[str, Path]:
    """Files the app must refuse with a message naming them, keyed by what is wrong with them."""
    import av
    import numpy as np
    from PIL import Image

    out: dict[str, Path] = {}
    out["empty"] = directory / "empty.png"
    out["empty"].write_bytes(b"")
    out["text-as-png"] = directory / "notes.png"
    out["text-as-png"].write_text("this is not a picture\n")
    out["truncated"] = directory / "truncated.jpg"
    Image.new("RGB", (640, 480), (10, 200, 30)).save(out["truncated"], quality=90)
    out["truncated"].write_bytes(out["truncated"].read_bytes()[:300])
    out["too-elongated"] = directory / "banner.png"
    Image.new("RGB", (2010, 10), "white").save(out["too-elongated"])
    out["bomb"] = directory / "bomb.png"  # 20000x20000: 400 Mpx, over twice Pillow's guard; ~50 KB on disk
    Image.new("1", (20000, 20000)).save(out["bomb"], optimize=True)
    out["unsupported"] = directory / "notes.pdf"  # text files are read as text (inference.inputs.documents)
    out["unsupported"].write_bytes(b"%PDF-1.4\n%%EOF\n")
    out["audio-only"] = directory / "sound.mp4"
    with av.open(str(out["audio-only"]), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out["truncated-video"] = directory / "cut.mp4"
    full = moving_square_video(directory, seconds=2.0, name="full.mp4").read_bytes()
    out["truncated-video"].write_bytes(full[: len(full) // 3])
    out["too-long"] = make_clip(directory, seconds=11.0, fps=2, size=(64, 48), name="long.mp4")
    return out
