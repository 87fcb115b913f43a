"""Media loading and chat preparation: pure functions, no engine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.errors import DemoError
from inference.inputs.chat import UserTurn, prepare
from inference.inputs.media import VideoOptions, load_image, load_video, media_kind, sample_indices


def test_sample_indices_are_even_spread_and_in_range():
    idx = sample_indices(total_frames=300, native_fps=30.0, options=VideoOptions(fps=2.0, max_frames=64))
    assert len(idx) == 20  # 10 s at 2 fps
    assert idx[0] == 0 and idx[-1] == 299
    assert idx == sorted(idx)


@pytest.mark.parametrize("total,fps,max_frames", [(1, 30.0, 32), (3, 30.0, 32), (301, 30.0, 7), (25, 0.0, 32)])
def test_sample_count_is_even_and_bounded(total, fps, max_frames):
    idx = sample_indices(total, fps, VideoOptions(fps=2.0, max_frames=max_frames))
    assert len(idx) % 2 == 0 and len(idx) >= 2
    assert len(idx) <= max(2, max_frames)
    assert all(0 <= i < total for i in idx)


def test_video_frames_and_metadata_match(media):
    frames, meta = load_video(str(media["video"]), VideoOptions(fps=2.0, max_frames=32))
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3
    assert frames.shape[0] == len(meta["frames_indices"]) == 4  # 2 s clip at 2 fps
    assert meta["total_num_frames"] == 20 and meta["fps"] == pytest.approx(10.0)
    assert meta["do_sample_frames"] is False
    # the white square moves right: its column centre grows from frame to frame
    centres = [np.nonzero(f[120].max(axis=-1) > 200)[0].mean() for f in frames]
    assert centres == sorted(centres)


def test_video_grid_matches_transformers_processor(media, tiny_dir):
    from transformers import AutoProcessor

    frames, meta = load_video(str(media["video"]))
    processor = AutoProcessor.from_pretrained(tiny_dir / "bf16")
    hf_meta = {k: v for k, v in meta.items() if k != "do_sample_frames"}  # vLLM pops it likewise
    out = processor.video_processor(videos=[frames], video_metadata=[hf_meta], do_sample_frames=False)
    t, h, w = out["video_grid_thw"][0].tolist()
    assert t == frames.shape[0] // 2  # two frames per temporal patch
    assert (h * 16) % 32 == 0 and (w * 16) % 32 == 0  # 16 px patches, 2x2 merge


def test_image_is_upright_rgb(tmp_path):
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: width and height swap when applied
    path = tmp_path / "rotated.png"
    img.save(path, exif=exif)
    loaded = load_image(str(path))
    assert loaded.mode == "RGB" and loaded.size == (20, 40)
    assert loaded.getpixel((0, 0)) == (255, 255, 255)  # transparent becomes white, not black


def test_corrupt_image_names_the_file(media):
    with pytest.raises(DemoError, match=r"broken\.png: not a readable image") as err:
        load_image(str(media["corrupt"]))
    assert str(media["corrupt"].parent) not in str(err.value)  # no server-side path in the UI


def test_unreadable_video_names_the_file_not_its_path(tmp_path):
    path = tmp_path / "truncated.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(DemoError, match=r"truncated\.mp4: not a readable video") as err:
        load_video(str(path))
    assert str(tmp_path) not in str(err.value)


def test_unsupported_suffix_is_refused():
    with pytest.raises(DemoError, match=r"notes.txt: unsupported file type \.txt"):
        media_kind("/tmp/notes.txt")


def test_empty_turn_is_refused():
    with pytest.raises(DemoError, match="Type a message"):
        prepare([UserTurn("   ")])


def test_too_many_images_in_a_turn_are_refused_before_decoding(media):
    turns = [UserTurn("a", (str(media["image"]),)), UserTurn("b", (str(media["image"]),) * 3)]
    with pytest.raises(DemoError, match="This turn holds 3 images; one request takes at most 2"):
        prepare(turns, limits={"image": 2})
    # over the limit only with earlier turns: those are left out instead (``inference.compare.window``)
    turns = [UserTurn("a", (str(media["image"]),) * 2), UserTurn("b", (str(media["image"]),))]
    assert len(prepare(turns, limits={"image": 2}).plans) == 3


def test_messages_keep_each_sides_history_and_placeholders(media):
    turns = [UserTurn("first", (str(media["image"]),)), UserTurn("second", (str(media["video"]),))]
    prepared = prepare(turns)
    assert [len(v) for v in prepared.multi_modal_data.values()] == [1, 1]
    messages = prepared.messages(["answer one"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"][0] == {"type": "image"}
    assert messages[1]["content"][0]["text"] == "answer one"
    assert messages[2]["content"][0] == {"type": "video"}
    with pytest.raises(ValueError):
        prepared.messages([])


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_every_video_backend_gives_decords_frames_and_metadata(media, backend):
    from inference.inputs.media import VIDEO_BACKENDS

    assert backend in VIDEO_BACKENDS
    reference, ref_meta = load_video(str(media["video"]), VideoOptions(backend="decord"))
    frames, meta = load_video(str(media["video"]), VideoOptions(backend=backend))
    assert frames.shape == reference.shape and np.array_equal(frames, reference)
    assert meta["video_backend"] == backend
    assert {k: v for k, v in meta.items() if k != "video_backend"} == {
        k: v for k, v in ref_meta.items() if k != "video_backend"
    }


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_every_video_backend_refuses_a_broken_file_by_name(tmp_path, media, backend):
    broken = tmp_path / "cut.mp4"
    broken.write_bytes(media["video"].read_bytes()[:200])
    with pytest.raises(DemoError, match=r"cut\.mp4"):
        load_video(str(broken), VideoOptions(backend=backend))


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("CMYK", ".jpg"), ("I;16", ".png"), ("P", ".png"), ("L", ".png"), ("LA", ".png"), ("1", ".bmp")],
)
def test_every_image_mode_becomes_rgb_of_the_same_size(tmp_path, mode, suffix):
    path = tmp_path / f"pic-{mode.replace(';', '')}{suffix}"
    Image.new(mode, (96, 64)).save(path)
    loaded = load_image(str(path))
    assert loaded.mode == "RGB" and loaded.size == (96, 64)


def test_an_animated_image_gives_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(str(path))
    assert loaded.size == (40, 30) and loaded.getpixel((5, 5))[0] > 200  # red, the first frame


def corpus_files(name: str, directory) -> list:
    from tests.helpers.corpus import cases

    return next(c for c in cases() if c.name == name).make(directory)


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_a_video_without_frames_is_refused_by_name(tmp_path, backend):
    (path,) = corpus_files("video/zero-frames", tmp_path)  # Matroska: MP4 would leave the empty track out
    import av

    with av.open(str(path)) as container:
        assert container.streams.video, "the file must hold a video stream"
    with pytest.raises(DemoError, match=r"blank\.mkv: ") as err:
        load_video(str(path), VideoOptions(backend=backend))
    assert str(tmp_path) not in str(err.value)


def test_a_16_bit_image_keeps_its_grey_levels(tmp_path):
    (path,) = corpus_files("image/16-bit-png", tmp_path)  # a ramp over 0..65535, left to right
    assert Image.open(path).mode == "I;16"
    row = np.asarray(load_image(str(path)))[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) >= 0)  # scaled, not clipped to white
    assert 100 < row[len(row) // 2] < 155


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_a_phone_video_comes_upright_from_every_backend(tmp_path, backend, rotation):
    """Phones store portrait video as landscape frames plus a display matrix; every backend turns them."""
    from tests.helpers.corpus import phone_video, upright_portrait

    path = phone_video(tmp_path, rotation=rotation)  # stored 96x64, displayed 64 wide, 96 high
    frames, _ = load_video(str(path), VideoOptions(backend=backend))
    assert frames.shape[1:] == upright_portrait().shape == (96, 64, 3)
    for frame in frames:  # the white bar is at the top
        assert frame[:8].min() > 200 and frame[16:].max() < 80


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_a_rotated_video_gives_decords_frames(tmp_path, backend):
    from tests.helpers.corpus import _encode

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 96, 3), np.uint8) for _ in range(4)]
    path = str(_encode(tmp_path / "noise.mp4", noise, rotation=-90))
    reference, _ = load_video(path, VideoOptions(backend="decord"))
    frames, _ = load_video(path, VideoOptions(backend=backend))
    assert frames.shape == reference.shape == (2, 96, 64, 3) and np.array_equal(frames, reference)


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
@pytest.mark.parametrize("name", ["video/mkv", "video/webm-vp9"])
def test_matroska_and_webm_videos_count_their_frames(tmp_path, backend, name):
    """Matroska stores no frame count (PyAV's ``stream.frames`` is 0): the frames are counted."""
    (path,) = corpus_files(name, tmp_path)  # 10 frames at 10 fps
    frames, meta = load_video(str(path), VideoOptions(backend=backend))
    assert meta["total_num_frames"] == 10 and meta["fps"] == pytest.approx(10.0)
    assert meta["duration"] == pytest.approx(1.0) and frames.shape == (2, 64, 96, 3)


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_a_variable_frame_rate_video_lasts_what_its_container_says(tmp_path, backend):
    """20 frames: 0.5 s at 20 fps, then 4.5 s at 2 fps. The fps is the average; frames are sampled
    evenly by index (as Qwen's reference loader does), so the slow part gets fewer of them per second."""
    (path,) = corpus_files("video/variable-frame-rate", tmp_path)
    frames, meta = load_video(str(path), VideoOptions(backend=backend))
    assert meta["total_num_frames"] == 20 and 5.0 <= meta["duration"] <= 5.5
    assert meta["fps"] == pytest.approx(20 / meta["duration"])
    assert len(meta["frames_indices"]) == frames.shape[0] == 10  # 2 fps over ~5 s
