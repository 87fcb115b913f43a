"""Bad and unusual inputs for the reliability suite, every file made here (no downloaded media).

Contract: ``cases()`` lists each ``Case`` once; ``make(directory)`` writes that case's files under
``directory`` and returns them in upload order. ``expect`` is ``ANSWER`` (both sides must answer)
or a substring of the refusal the user must see; a refused case names its last file. Gradio renames
uploads (``shown_name``), so a message names that name, not the one written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from inference.inputs.samples import make_clip, make_scene
from tests.helpers.media_factory import corrupt_image

ANSWER = "answer"
SMALL = (96, 64)  # width, height of the valid pictures and clips: cheap to make and to decode
LONG_TEXT = "word " * 20_000  # 100 000 characters: more tokens than the 8192-token context


@dataclass(frozen=True)
class Case:
    name: str  # unique id, "category/what", e.g. "image/cmyk"
    category: str  # "image" | "video" | "text" | "filename"
    text: str  # the message text sent with the files
    make: Callable[[Path], list[Path]]  # writes this case's files under the directory, returns them in upload order
    expect: str  # ANSWER or a substring of the refusal message the user must see
    note: str = ""  # one line: what the case checks


def shown_name(path: Path) -> str:
    """The name Gradio gives an upload (it strips ``<>:"/\\|?*$!{}``, control characters and trailing
    dots/spaces, and cuts it to 200 bytes): the name the app's messages show."""
    from gradio_client.utils import strip_invalid_filename_characters

    return strip_invalid_filename_characters(path.name)


# --- pictures ---------------------------------------------------------------------------------


def _scene(name: str, size: tuple[int, int] = SMALL) -> Callable[[Path], list[Path]]:
    return lambda d: [make_scene(d, size, name)]


def _picture(name: str, convert: str | None = None, **save) -> Callable[[Path], list[Path]]:
    """The sample scene, converted to ``convert`` and saved with Pillow's ``save`` options."""

    def make(d: Path) -> list[Path]:
        with Image.open(make_scene(d, SMALL, "source.png")) as image:
            (image.convert(convert) if convert else image).save(d / name, **save)
        return [d / name]

    return make


def _solid(name: str, mode: str, size: tuple[int, int], colour=0, **save) -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        Image.new(mode, size, colour).save(d / name, **save)
        return [d / name]

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        (d / name).write_bytes(data)
        return [d / name]

    return make


def _cut(make_whole: Callable[[Path], Path], name: str, keep: float = 1 / 3) -> Callable[[Path], list[Path]]:
    """A valid file cut short: its first ``keep`` of the bytes."""

    def make(d: Path) -> list[Path]:
        data = make_whole(d).read_bytes()
        (d / name).write_bytes(data[: int(len(data) * keep)])
        return [d / name]

    return make


def _sixteen_bit(d: Path) -> list[Path]:
    """A 16-bit grayscale PNG: a left-to-right ramp over the whole 0..65535 range."""
    ramp = np.linspace(0, 65535, SMALL[0]).astype(np.uint16)
    path = d / "ramp16.png"
    Image.fromarray(np.tile(ramp, (SMALL[1], 1))).save(path)
    return [path]


def _animated(name: str, **save) -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        frames = [Image.new("RGB", SMALL, colour) for colour in ("red", "green", "blue")]
        frames[0].save(d / name, save_all=True, append_images=frames[1:], duration=100, loop=0, **save)
        return [d / name]

    return make


def _exif_rotated(d: Path) -> list[Path]:
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90° clockwise to view), as cameras write."""
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(make_scene(d, SMALL, "source.png")) as image:
        image.save(d / "camera.jpg", exif=exif, quality=90)
    return [d / "camera.jpg"]


def _palette(d: Path) -> list[Path]:
    """A palette PNG whose background (index 0) is transparent: it must come out white, not black."""
    image = Image.new("P", SMALL, 0)
    image.putpalette([0, 0, 0, 220, 30, 30])
    image.paste(1, (24, 16, 72, 48))  # a red box
    image.save(d / "palette.png", transparency=0)
    return [d / "palette.png"]


def _half_transparent(d: Path) -> list[Path]:
    """RGBA whose left half is fully transparent."""
    with Image.open(make_scene(d, SMALL, "source.png")) as image:
        rgba = image.convert("RGBA")
    rgba.putalpha(Image.new("L", SMALL, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, SMALL[0] // 2, SMALL[1]))
    rgba.save(d / "alpha.png")
    return [d / "alpha.png"]


# --- videos -----------------------------------------------------------------------------------


def _encode(
    path: Path,
    frames: Iterable[np.ndarray],
    codec: str = "libx264",
    rate: int = 10,
    *,
    pts_ms: list[int] | None = None,
    rotation: int = 0,
    options: dict[str, str] | None = None,
    audio: bool = False,
) -> Path:
    """Encode RGB frames with PyAV; ``pts_ms`` gives each frame its own time (variable frame rate),
    ``rotation`` writes a display matrix (counter-clockwise degrees, PyAV's convention)."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=16000) if audio else None  # every stream before the first packet
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            _silence(container, sound)
    return path


def _moving(count: int, size: tuple[int, int] = SMALL) -> list[np.ndarray]:
    """A white square crossing a dark frame left to right (``make_clip``'s picture, any size)."""
    w, h = size
    side = max(2, min(w, h) // 4)
    out = []
    for i in range(count):
        arr = np.full((h, w, 3), 30, np.uint8)
        x = (w - side) * i // max(count - 1, 1)
        arr[(h - side) // 2 : (h + side) // 2, x : x + side] = 255
        out.append(arr)
    return out


def _video(name: str, count: int = 10, size: tuple[int, int] = SMALL, **encode) -> Callable[[Path], list[Path]]:
    return lambda d: [_encode(d / name, _moving(count, size), **encode)]


def upright_portrait(size: tuple[int, int] = (64, 96)) -> np.ndarray:
    """A portrait frame (width, height) whose top is known: a white bar along the top edge."""
    w, h = size
    arr = np.full((h, w, 3), 30, np.uint8)
    arr[: h // 8] = 255
    return arr


def phone_video(d: Path, name: str = "portrait.mp4", rotation: int = -90) -> Path:
    """A portrait clip stored sideways, as phones write it: landscape frames and a display matrix
    that turns them by ``rotation`` degrees (counter-clockwise; phones write -90: clockwise)."""
    stored = np.rot90(upright_portrait(), -rotation // 90)  # undo what the display matrix will do
    return _encode(d / name, [np.ascontiguousarray(stored)] * 4, rotation=rotation)


def _silence(container, stream=None) -> None:
    """One second of silent AAC muxed into ``container`` (into ``stream`` if it was added already)."""
    import av

    stream = stream or container.add_stream("aac", rate=16000)
    samples = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
    samples.sample_rate = 16000
    container.mux(stream.encode(samples))
    container.mux(stream.encode())


def _zero_frames(d: Path) -> list[Path]:
    """A video stream that never received a frame, next to a second of sound. Matroska, since the
    MP4 muxer leaves an empty track out of the file (then it reads as audio only)."""
    import av

    path = d / "blank.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = *SMALL, "yuv420p"
        _silence(container)
    return [path]


def _audio_only(d: Path) -> list[Path]:
    import av

    path = d / "sound.mp4"
    with av.open(str(path), "w") as container:
        _silence(container)
    return [path]


def _huge_video(d: Path) -> list[Path]:
    """8K (7680x4320), 2 flat frames: a few KB on disk, 200 MB decoded."""
    frames = [np.full((4320, 7680, 3), grey, np.uint8) for grey in (40, 200)]
    return [_encode(d / "8k.mp4", frames, options={"preset": "ultrafast"})]


def _flat(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), 60, np.uint8)] * count


VFR_MS = [i * 50 for i in range(10)] + [500 + i * 500 for i in range(10)]  # 0.5 s at 20 fps, then 4.5 s at 2 fps


# --- the cases --------------------------------------------------------------------------------


def _with(*makers: Callable[[Path], list[Path]]) -> Callable[[Path], list[Path]]:
    """Several makers' files in one message, in order."""
    return lambda d: [p for make in makers for p in make(d)]


def _texts() -> list[Case]:
    none = lambda d: []  # noqa: E731
    table = "| day | orders |\n|---|---|\n" + "".join(f"| {i} | {i * 7 % 13} |\n" for i in range(60))
    spec = [
        ("empty", "", "Type a message", "no text and no file: refused before anything runs"),
        ("whitespace", " \t\n\u00a0\u3000\n ", "Type a message", "only spaces, tabs, newlines (incl. NBSP)"),
        # refused from its bytes before any tokenising (issue 27), not from its token count
        ("100k-characters", LONG_TEXT, "more than the models' context can take", "more bytes than the context takes"),
        ("control-characters", "Hi\x00 " + "".join(map(chr, range(1, 32))) + "\x7f what is 2+2?", ANSWER, ""),
        ("html-img", 'Say hi. <img src=x onerror="window.__pwned=1">', ANSWER, "echoed HTML must not run"),
        ("script", "Repeat: <script>window.__pwned=1</script>", ANSWER, "echoed <script> must not run"),
        ("markdown-link", "Echo exactly: [click](javascript:alert(1)) and <javascript:alert(2)>", ANSWER, ""),
        ("markdown-heading", "# " + "Very big heading " * 200, ANSWER, "a 3 400-character heading"),
        ("markdown-table", "Sum the orders:\n\n" + table, ANSWER, "a 60-row table"),
        ("rtl", "مرحبا، كيف حالك؟ שלום עולם \u202eevil.exe\u202c in English?", ANSWER, "RTL text, RLO override"),
        ("emoji", "Name these: 👩🏽‍🚀 🏳️‍🌈 🇯🇵 👨‍👩‍👧‍👦 🎞", ANSWER, "ZWJ sequences, flags, skin tones"),
        (
            "combining",
            "Z\u0338\u0322a\u0335l\u0334g\u0336o\u0337 \u200b\u200d\ufeff text?",
            ANSWER,
            "zalgo, zero-widths",
        ),
    ]
    return [Case(f"text/{name}", "text", text, none, expect, note) for name, text, expect, note in spec]


def cases() -> list[Case]:
    """Every case, by category: images, videos, text, file names."""
    ask_image, ask_video = "What is in this picture?", "What happens in this video?"
    images = [
        ("corrupt", lambda d: [corrupt_image(d)], "not a readable image", "PNG signature, then garbage"),
        ("text-as-png", _bytes("notes.png", b"this is not a picture\n"), "not a readable image", ""),
        ("truncated-jpeg", _cut(lambda d: _picture("whole.jpg")(d)[0], "truncated.jpg"), "not a readable image", ""),
        ("empty", _bytes("empty.png", b""), "the file is empty", "0 bytes"),
        ("1x1", _solid("dot.png", "RGB", (1, 1), (200, 30, 30)), ANSWER, "raised to the token floor"),
        ("bomb", _solid("bomb.png", "1", (20000, 20000), optimize=True), "too large to decode safely", "400 Mpx"),
        ("too-wide", _solid("banner.png", "RGB", (2010, 10), "white"), "too elongated", "aspect 201:1"),
        ("too-tall", _solid("pole.png", "RGB", (10, 2010), "white"), "too elongated", "aspect 1:201"),
        ("cmyk-jpeg", _picture("cmyk.jpg", "CMYK", quality=90), ANSWER, "print-style CMYK JPEG"),
        ("16-bit-png", _sixteen_bit, ANSWER, "16-bit grayscale, scaled to 8 bits (not clipped white)"),
        ("palette-transparent", _palette, ANSWER, "tRNS: transparent becomes white"),
        ("animated-gif", _animated("anim.gif"), ANSWER, "the first frame"),
        ("animated-webp", _animated("anim.webp", lossless=True), ANSWER, "the first frame"),
        ("exif-rotated", _exif_rotated, ANSWER, "orientation 6: width and height swap"),
        ("grayscale", _picture("gray.png", "L"), ANSWER, ""),
        ("rgba", _half_transparent, ANSWER, "alpha over white"),
        ("tiff", _picture("scan.tif"), ANSWER, ""),
        ("bmp", _picture("paint.bmp"), ANSWER, ""),
        ("png-named-jpg", _scene("really-a-png.jpg"), ANSWER, "content, not suffix, decides the decoder"),
        ("good-and-bad", _with(_scene("good.png"), lambda d: [corrupt_image(d)]), "not a readable image", ""),
    ]
    videos = [
        ("truncated", _cut(lambda d: make_clip(d, name="whole.mp4"), "cut.mp4"), "not a readable video", ""),
        ("empty", _bytes("empty.mp4", b""), "the file is empty", "0 bytes"),
        ("text-as-mp4", _bytes("notes.mp4", b"this is not a video\n" * 20), "not a readable video", ""),
        ("zero-frames", _zero_frames, "the video has no frames", "a video stream that holds no frame"),
        ("audio-only", _audio_only, "no video stream", "AAC in MP4"),
        ("too-long", lambda d: [_encode(d / "long.mp4", _flat(602, (32, 32)), rate=1)], "lasts", "602 s > 600 s"),
        ("variable-frame-rate", _video("vfr.mp4", 20, pts_ms=VFR_MS, options={"bf": "0"}), ANSWER, "20 fps, 2 fps"),
        ("rotated-phone", lambda d: [phone_video(d)], ANSWER, "display matrix -90°: frames come upright"),
        ("webm-vp9", _video("clip.webm", codec="libvpx-vp9", options={"deadline": "realtime"}), ANSWER, ""),
        ("mkv", _video("clip.mkv"), ANSWER, "H.264 in Matroska"),
        ("mov", _video("clip.mov"), ANSWER, "H.264 in QuickTime"),
        ("hevc-mov", _video("iphone.mov", codec="libx265", options={"x265-params": "log-level=none"}), ANSWER, ""),
        ("avi", _video("clip.avi", codec="mpeg4"), ANSWER, "MPEG-4 Part 2 in AVI"),
        ("m4v", _video("clip.m4v"), ANSWER, ""),
        ("with-audio", _video("talk.mp4", audio=True), ANSWER, "H.264 + AAC: the audio is ignored"),
        ("8k", _huge_video, ANSWER, "7680x4320, 2 frames"),
        ("single-frame", _video("still.mp4", 1), ANSWER, "one frame, sampled twice"),
        (
            "good-and-bad",
            _with(_video("good.mp4"), _bytes("notes.mp4", b"no video\n" * 20)),
            "not a readable video",
            "",
        ),
    ]
    names = [  # valid pictures under names that are hard to show, store or quote
        ("backslashes", _scene("..\\..\\evil.png"), "path separators of another OS"),
        ("dots", _scene("a..b.png"), ""),
        ("percent-2f", _scene("..%2F..%2Fevil.png"), "an URL-encoded slash"),
        ("unicode", _scene("日本語 画像 🎞.png"), "CJK, spaces, emoji"),
        ("unicode-video", lambda d: [make_clip(d, 1.0, 10, SMALL, "動画 🎞.mp4")], "a video under such a name"),
        ("very-long", _scene("n" * 240 + ".png"), "Gradio cuts it to 200 bytes"),
        ("html", _scene('<img src=x onerror="window.__pwned=1">.png'), "must show as text, not run"),
        ("leading-dash", _scene("-rf --help.png"), "looks like a command-line option"),
        ("spaces", _scene("  spaced   name  .png"), ""),
        ("quotes", _scene('it\'s "quoted" `x`.png'), ""),
        ("upper-case-suffix", _scene("SCENE.PNG"), ""),
        ("windows-reserved", _scene("CON.png"), "Gradio prefixes it: _CON.png"),
    ]
    return [
        *(Case(f"image/{n}", "image", ask_image, make, expect, note) for n, make, expect, note in images),
        *(Case(f"video/{n}", "video", ask_video, make, expect, note) for n, make, expect, note in videos),
        *_texts(),
        *(Case(f"filename/{n}", "filename", ask_image, make, ANSWER, note) for n, make, note in names),
        Case(
            "filename/html-refused",
            "filename",
            ask_image,
            lambda d: [corrupt_image(d, "<img src=x onerror=window.__pwned=1>broken.png")],
            "not a readable image",
            "a refusal that names a file called with HTML",
        ),
    ]
