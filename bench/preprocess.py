"""Preprocessing benchmark: videos and large images to model-ready inputs (``make bench-preprocess``).

Contract: one run (about 4-7 minutes on 2 cores, plus about a minute the first time to encode
the media) measures the figures below on this machine and writes ``bench/results/preprocess.json``
(raw samples, summary, machine) and ``preprocess.md`` (the tables; nothing else is touched).
Every measured case runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own;
each child imports its libraries (and loads the processor) before the clock starts, so times
exclude imports; peak RSS includes them, and the RSS after imports is reported beside it. Times
are the best of a few repetitions in the same child (the machine may be shared).

The media are generated here with PyAV/PIL (moving texture, gradients, shapes; not trivially
compressible) and cached in ``.cache/bench-media`` (delete it to re-encode):

* (a) videos, H.264 (libx264, preset ultrafast) in MP4: 720p 10 s at 30 fps (x264's default
  keyframe interval, 250), and 1080p 60 s at 30 fps with a 250-frame keyframe interval
  (``keyint=min-keyint=250``, no scene cuts). Sampling is the app's default ``VideoOptions``
  (2 fps, at most 32 frames). Per clip, wall time and peak RSS of:
  ``ours-<backend>``: ``inference.inputs.media.load_video`` with decord, pyav and opencv;
  ``qwen-vl-utils``: the reference, ``qwen_vl_utils.fetch_video`` with
  ``FORCE_QWENVL_VIDEO_READER=decord`` and ``{"video": path, "fps": 2.0, "max_frames": 32}``
  (``image_patch_size=16``, Qwen3.5's patch); it also resizes (bicubic, antialiased) to float;
  ``floor``: one threaded (``thread_type="AUTO"``) sequential PyAV decode of the whole file,
  converting only the sampled frames to RGB.
  Grid check: ``plan_video`` on our frames vs the HF video processor of the tiny checkpoint
  (``processor_kwargs(VisualBudget())``, ``do_sample_frames=False``) on our frames and on the
  reference's output; also the reference's own grid (its resize, as Qwen's README feeds the
  processor with ``do_resize=False``) and ours with the processor's ``cap_pixels_per_frame``.
  Targets (from the issue): ours ≤ 1.2x the floor, ≥ 4x faster than qwen-vl-utils, peak RSS
  ≤ 1/4 of qwen-vl-utils', identical ``video_grid_thw``.
* (b) images: a 3840x2160 JPEG and PNG (noise over gradients and shapes). ``ours``: the
  ``plan_file`` path (``load_image`` + ``plan_image``) plus the HF image processor with our
  default budget (``processor_kwargs(VisualBudget())["images_kwargs"]``); ``hf-default``: PIL open
  + RGB + the HF image processor with its released default budget (no kwargs). Visual tokens
  of both; ours must equal its plan and stay ≤ 1280.

``--only SUBSTRING`` runs the matching cases only and writes nothing (for debugging).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
MEDIA = ROOT / ".cache" / "bench-media"
TINY_BF16 = ROOT / ".cache" / "tiny" / "bf16"
MEDIA_VERSION = 1  # bump when the generated content changes, so cached files are re-encoded

# name -> (width, height, seconds, fps, keyframe interval or None for x264's default, repetitions)
CLIPS: dict[str, tuple[int, int, int, int, int | None, int]] = {
    "720p-10s": (1280, 720, 10, 30, None, 3),
    "1080p-60s-gop250": (1920, 1080, 60, 30, 250, 3),
}
VIDEO_METHODS = ("ours-decord", "ours-pyav", "ours-opencv", "qwen-vl-utils", "floor")
OURS = ("ours-decord", "ours-pyav", "ours-opencv")
IMAGES = {"4k-jpeg": "jpg", "4k-png": "png"}
IMAGE_SIZE = (3840, 2160)
IMAGE_METHODS = ("ours", "hf-default")
IMAGE_REPS = 3
TARGET_FLOOR = 1.2  # ours / floor, at most
TARGET_SPEEDUP = 4.0  # qwen-vl-utils / ours, at least
TARGET_RSS = 0.25  # ours / qwen-vl-utils peak RSS, at most
IMAGE_MAX_TOKENS = 1280


# --------------------------------------------------------------------------- media


def clip_path(name: str) -> Path:
    w, h, seconds, fps, gop, _ = CLIPS[name]
    return MEDIA / f"{name}-{w}x{h}-{fps}fps-{seconds}s-g{gop or 'default'}-v{MEDIA_VERSION}.mp4"


def image_path(name: str) -> Path:
    w, h = IMAGE_SIZE
    return MEDIA / f"{name}-{w}x{h}-v{MEDIA_VERSION}.{IMAGES[name]}"


def _texture(height: int, width: int, seed: int):
    """An RGB uint8 canvas: colour gradients, smoothed noise and fine noise, plus a grid of discs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    base = np.stack(np.broadcast_arrays(200 * x + 30 * y, 60 + 140 * y, 220 - 160 * x * y), axis=-1)
    coarse = rng.normal(0, 30, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    coarse = coarse.repeat(8, 0).repeat(8, 1)[:height, :width]
    fine = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    canvas = np.clip(base + coarse + fine, 0, 255).astype(np.uint8)
    r = 40
    yy, xx = np.mgrid[-r:r, -r:r]
    disc = yy**2 + xx**2 < r**2
    for cy in range(60, height - r, 180):  # discs every 180 px
        for cx in range(60, width - r, 180):
            canvas[cy - r : cy + r, cx - r : cx + r][disc] = ((cx * 7) % 256, (cy * 3) % 256, ((cx + cy) * 5) % 256)
    return canvas


def make_clip(name: str) -> Path:
    """Encode one clip: a panning textured scene with shapes moving across it, H.264 in MP4."""
    import av

    path = clip_path(name)
    if path.exists():
        return path
    w, h, seconds, fps, gop, _ = CLIPS[name]
    pan = 480  # the texture is larger than the frame by this much, and pans across it
    texture = _texture(h + pan, w + pan, seed=w)
    MEDIA.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    with tempfile.TemporaryDirectory(dir=MEDIA) as tmp:
        part = Path(tmp) / path.name
        with av.open(str(part), "w") as container:
            options = {"preset": "ultrafast"}
            if gop:
                options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
            stream = container.add_stream("libx264", rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            if gop:
                stream.codec_context.gop_size = gop
            frames = seconds * fps
            for i in range(frames):
                dx, dy = (7 * i) % (2 * pan), (3 * i) % (2 * pan)
                dx, dy = min(dx, 2 * pan - dx), min(dy, 2 * pan - dy)  # back and forth
                arr = texture[dy : dy + h, dx : dx + w].copy()
                for k in range(4):  # four blocks crossing the frame at different speeds
                    bx = int((w - 160) * ((i * (k + 1) / frames) % 1.0))
                    by = h // 5 * (k + 1) - 50
                    arr[by : by + 100, bx : bx + 160] = (255 - 60 * k, 40 * k, 255 * (k % 2))
                arr[: h // 40, : int(w * (i + 1) / frames)] = 255  # a progress bar: every frame differs
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(part, path)
    print(f"  encoded {path.name} in {time.monotonic() - t:.1f} s", flush=True)
    return path


def make_image(name: str) -> Path:
    from PIL import Image

    path = image_path(name)
    if path.exists():
        return path
    MEDIA.mkdir(parents=True, exist_ok=True)
    w, h = IMAGE_SIZE
    img = Image.fromarray(_texture(h, w, seed=4))
    with tempfile.TemporaryDirectory(dir=MEDIA) as tmp:
        part = Path(tmp) / path.name
        if IMAGES[name] == "jpg":
            img.save(part, quality=90)
        else:
            img.save(part, compress_level=6)
        os.replace(part, path)
    return path


def describe_clip(path: Path) -> dict[str, Any]:
    """Size, frames, rate and keyframes of a clip, read from its packets (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = packets = 0
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
                keys += bool(packet.is_keyframe)
        return {
            "file": path.name,
            "bytes": path.stat().st_size,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": float(stream.average_rate),
            "frames": packets,
            "keyframes": keys,
            "codec": stream.codec_context.name,
        }


# --------------------------------------------------------------------------- children


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def vm_hwm_mb() -> float:
    """The kernel's peak RSS of this process's own address space (a cross-check of ``ru_maxrss``)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def timed(fn, reps: int) -> dict[str, Any]:
    """Run ``fn`` ``reps`` times: wall and CPU seconds (all threads) of each, and the last result."""
    times, cpu, out = [], [], None
    for _ in range(reps):
        out = None  # the previous result is freed first, as in a fresh request
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"times_s": times, "best_s": min(times), "cpu_s": cpu, "load": os.getloadavg()[0], "out": out}


def child_video(method: str, clip: str) -> dict[str, Any]:
    import numpy as np

    path, reps = str(clip_path(clip)), CLIPS[clip][5]
    if method.startswith("ours-"):
        from inference.inputs.media import VideoOptions, load_video

        backend = method.removeprefix("ours-")
        __import__({"decord": "decord", "pyav": "av", "opencv": "cv2"}[backend])
        options = VideoOptions(backend=backend)

        def run():
            load_video.cache_clear()
            frames, meta = load_video(path, options)
            return frames, meta["frames_indices"], meta["fps"], meta["total_num_frames"]

    elif method == "qwen-vl-utils":
        import decord  # noqa: F401
        from qwen_vl_utils import vision_process

        assert vision_process.get_video_reader_backend() == "decord"

        def run():
            video, meta = vision_process.fetch_video(
                {"video": path, "fps": 2.0, "max_frames": 32}, image_patch_size=16, return_video_metadata=True
            )
            assert meta["video_backend"] == "decord", meta  # it falls back to torchvision silently
            return video, list(meta["frames_indices"]), float(meta["fps"]), int(meta["total_num_frames"])

    else:  # floor
        import av

        from inference.inputs.media import VideoOptions, sample_indices

        def run():
            with av.open(path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                fps, total = float(stream.average_rate), stream.frames
                indices = sample_indices(total, fps, VideoOptions())
                wanted, out = set(indices), []
                for i, frame in enumerate(container.decode(stream)):
                    if i in wanted:
                        out.append(frame.to_ndarray(format="rgb24"))
            return np.stack(out), indices, fps, total

    rss_imports = peak_rss_mb()
    timing = timed(run, reps)
    frames, indices, fps, total = timing.pop("out")
    return {
        **timing,
        "peak_rss_mb": peak_rss_mb(),
        "vm_hwm_mb": vm_hwm_mb(),
        "rss_after_imports_mb": rss_imports,
        "shape": list(frames.shape),
        "dtype": str(frames.dtype),
        "frames_indices": [int(i) for i in indices],
        "fps": fps,
        "total_num_frames": total,
    }


def _processor():
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(TINY_BF16))


def child_grid(clip: str) -> dict[str, Any]:
    """Our plan and the HF processor's grids for our frames and for the reference's output."""
    os.environ["FORCE_QWENVL_VIDEO_READER"] = "decord"
    from qwen_vl_utils import vision_process

    from inference.inputs.media import VideoOptions, load_video
    from inference.inputs.vision import VisualBudget, plan_video, processor_kwargs

    path = str(clip_path(clip))
    vp = _processor().video_processor
    kwargs = processor_kwargs(VisualBudget())["videos_kwargs"]

    def grid(videos, **extra) -> tuple[list[int], float]:
        t = time.perf_counter()
        out = vp(videos=[videos], do_sample_frames=False, return_tensors="pt", **extra)
        return [int(x) for x in out["video_grid_thw"][0]], time.perf_counter() - t

    frames, _ = load_video(path, VideoOptions(backend="pyav"))
    plan = plan_video(*frames.shape[:3], VisualBudget())
    ours, ours_s = grid(frames, **kwargs)
    capped, _ = grid(frames, **{**kwargs, "cap_pixels_per_frame": True})
    uncapped, _ = grid(frames, **{**kwargs, "cap_pixels_per_frame": False})
    ref_video, _ = vision_process.fetch_video(
        {"video": path, "fps": 2.0, "max_frames": 32}, image_patch_size=16, return_video_metadata=True
    )
    ref, ref_s = grid(ref_video, **kwargs)
    t, _, h, w = ref_video.shape
    return {
        "videos_kwargs": kwargs,
        "ours_frames": list(frames.shape),
        "ours_plan": list(plan.grid),
        "ours_plan_size": [plan.height, plan.width],
        "ours_processor": ours,
        "ours_processor_s": ours_s,
        "ours_processor_capped": capped,
        "ours_processor_uncapped": uncapped,
        "reference_output": [list(ref_video.shape), str(ref_video.dtype)],
        "reference_processor": ref,
        "reference_processor_s": ref_s,
        "reference_own": [t // 2, h // 16, w // 16],  # its resize as is (processor with do_resize=False)
    }


def child_image(method: str, image: str) -> dict[str, Any]:
    from PIL import Image

    from inference.inputs.media import load_image
    from inference.inputs.vision import VisualBudget, plan_image, processor_kwargs

    path = str(image_path(image))
    ip = _processor().image_processor
    budget = VisualBudget()
    plans = []

    def run():
        if method == "ours":
            load_image.cache_clear()
            img = load_image(path)
            plans.append(plan_image(img.height, img.width, budget))
            out = ip(images=[img], return_tensors="pt", **processor_kwargs(budget)["images_kwargs"])
        else:
            with Image.open(path) as raw:
                img = raw.convert("RGB")
            out = ip(images=[img], return_tensors="pt")
        return [int(x) for x in out["image_grid_thw"][0]], list(out["pixel_values"].shape)

    rss_imports = peak_rss_mb()
    timing = timed(run, IMAGE_REPS)
    grid, pixels = timing.pop("out")
    t, h, w = grid
    return {
        **timing,
        "peak_rss_mb": peak_rss_mb(),
        "vm_hwm_mb": vm_hwm_mb(),
        "rss_after_imports_mb": rss_imports,
        "grid": grid,
        "tokens": t * h * w // 4,
        "resized": [h * 16, w * 16],
        "pixel_values": pixels,
        "plan_grid": list(plans[-1].grid) if plans else None,
        "image_processor": type(ip).__name__,
    }


def child_media(*wanted: str) -> dict[str, Any]:
    """Encode the media not cached yet, and describe them."""
    clips = {clip: describe_clip(make_clip(clip)) for clip in CLIPS if clip in wanted}
    images = {}
    for image in IMAGES:
        if image in wanted:
            path = make_image(image)
            images[image] = {"file": path.name, "bytes": path.stat().st_size}
    return {"clips": clips, "image_files": images}


def run_child(*args: str) -> dict[str, Any]:
    """Run one case in a fresh interpreter. This process stays small (standard library only): a
    child's ``ru_maxrss`` starts from its parent's RSS (fork, then exec), so a large parent would
    inflate every child's figure."""
    env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord", "TRANSFORMERS_VERBOSITY": "error"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.preprocess", "--child", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    for x in out.stdout.splitlines():  # progress lines of the child (the media encoder's)
        if not x.startswith("RESULT "):
            print(x, flush=True)
    return json.loads(line[7:])


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    model = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in x),
        platform.processor(),
    )
    packages = ("av", "decord", "opencv-python-headless", "qwen-vl-utils", "transformers", "torch", "torchvision")
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "packages": {p: version(p) for p in packages},
    }


def code_state() -> dict[str, Any]:
    """The commit measured, and which files under inference/ differed from it (uncommitted edits)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.rstrip() if out.returncode == 0 else ""

    modified = [x[3:] for x in git("status", "--porcelain", "--", "inference").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "inference_modified": modified}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"video": {}, "images": {}}
    for clip, cases in results["video"].items():
        floor, ref = cases["floor"], cases["qwen-vl-utils"]
        grid = results["grid"][clip]
        same_grid = grid["ours_plan"] == grid["ours_processor"] == grid["reference_processor"]
        rows = {}
        for method in OURS:
            c = cases[method]
            x_floor = c["best_s"] / floor["best_s"]
            speedup = ref["best_s"] / c["best_s"]
            rss = c["peak_rss_mb"] / ref["peak_rss_mb"]
            rows[method] = {
                "x_floor": x_floor,
                "speedup_vs_qwen_vl_utils": speedup,
                "rss_vs_qwen_vl_utils": rss,
                "same_indices_as_reference": c["frames_indices"] == ref["frames_indices"],
                "pass": {
                    "floor": x_floor <= TARGET_FLOOR,
                    "speedup": speedup >= TARGET_SPEEDUP,
                    "rss": rss <= TARGET_RSS,
                    "grid": same_grid,
                },
            }
        summary["video"][clip] = {
            "cases": rows,
            "same_grid": same_grid,
            "plan_matches_processor": grid["ours_plan"] == grid["ours_processor"],
            "qwen_vl_utils_x_floor": ref["best_s"] / floor["best_s"],
        }
    for image, cases in results["images"].items():
        ours, hf = cases["ours"], cases["hf-default"]
        summary["images"][image] = {
            "ours_tokens": ours["tokens"],
            "hf_default_tokens": hf["tokens"],
            "plan_matches_processor": ours["plan_grid"] == ours["grid"],
            "ours_within_budget": ours["tokens"] <= IMAGE_MAX_TOKENS,
            "speedup_vs_hf_default": hf["best_s"] / ours["best_s"],
        }
    return summary


def _cap(grid: dict[str, Any]) -> str:
    value = grid["videos_kwargs"].get("cap_pixels_per_frame")
    return "`cap_pixels_per_frame` not set: uncapped" if value is None else f"`cap_pixels_per_frame={value}`"


def _ok(flag: bool) -> str:
    return "pass" if flag else "**FAIL**"


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["summary"]
    lines = [
        f"Preprocessing on {m['cpus']} CPU cores ({m['cpu']}, {m['arch']}, {m['memory_gb']:g} GB), "
        f"{results['date']}; load average {results['load_before']} before, {results['load_after']} after "
        "(the machine was shared: compare CPU seconds too). Each case in a fresh process; time = best of "
        "the repetitions (wall; CPU = all threads), imports excluded; peak RSS = `ru_maxrss` of that "
        "process, imports included (RSS after imports in brackets). `python -m bench.preprocess` at "
        f"{results['code']['commit']}"
        + (
            f" with uncommitted edits to {', '.join(results['code']['inference_modified'])}."
            if results["code"]["inference_modified"]
            else "."
        ),
        "",
        "## (a) Video → model-ready frames, 2 fps, at most 32 frames (the app's default `VideoOptions`)",
        "",
        "`ours-*`: `inference.inputs.media.load_video` (uint8 frames at native size; the HF processor resizes; "
        "decord is opened with `num_threads=1`). `qwen-vl-utils`: `fetch_video` 0.0.14, decord reader with "
        "decord's default threads, which also resizes (bicubic, antialiased) to float32. `floor`: one "
        "threaded sequential PyAV decode of the whole file, only the kept frames converted to RGB. Ratios "
        "and targets use the best times; the median is in brackets.",
        "",
    ]
    for clip, cases in results["video"].items():
        info, sv, g = results["clips"][clip], s["video"][clip], results["grid"][clip]
        ref, floor = cases["qwen-vl-utils"], cases["floor"]
        reps = len(ref["times_s"])
        lines += [
            f"### {clip}: {info['width']}x{info['height']}, {info['frames']} frames at {info['fps']:g} fps, "
            f"{info['keyframes']} keyframes, {info['bytes'] / 2**20:.1f} MiB H.264 (best of {reps})",
            "",
            "| method | time (median) | CPU | × floor | qwen-vl-utils ÷ this | peak RSS (after imports) "
            "| RSS ÷ qwen-vl-utils | output |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for method in VIDEO_METHODS:
            c = cases[method]
            shape, median = "x".join(map(str, c["shape"])), statistics.median(c["times_s"])
            lines.append(
                f"| {method} | {c['best_s']:.2f} s ({median:.2f}) | {min(c['cpu_s']):.1f} s "
                f"| {c['best_s'] / floor['best_s']:.2f} "
                f"| {ref['best_s'] / c['best_s']:.2f} | {c['peak_rss_mb']:.0f} MB ({c['rss_after_imports_mb']:.0f}) "
                f"| {c['peak_rss_mb'] / ref['peak_rss_mb']:.2f} | {shape} {c['dtype']} |"
            )
        same_idx = all(sv["cases"][x]["same_indices_as_reference"] for x in OURS)
        kept_mb = _prod(cases["ours-pyav"]["shape"]) / 2**20
        worst = max(cases[x]["peak_rss_mb"] - cases[x]["rss_after_imports_mb"] for x in OURS)
        lines += [
            "",
            f"Sampled frame indices identical to qwen-vl-utils': {'yes' if same_idx else '**no**'} "
            f"({len(ref['frames_indices'])} frames). The kept frames are {kept_mb:.0f} MB of uint8; ours' peak "
            f"rises at most {worst:.0f} MB above its imports.",
            "",
            f"`video_grid_thw` (our budget: `processor_kwargs(VisualBudget())`, {_cap(g)}): ours `plan_video` "
            f"{g['ours_plan']} (frames resized to {g['ours_plan_size'][1]}x{g['ours_plan_size'][0]}), HF "
            f"processor on our frames {g['ours_processor']} ({g['ours_processor_s']:.1f} s); HF processor on "
            f"qwen-vl-utils' output {g['reference_processor']} ({g['reference_processor_s']:.1f} s). "
            f"Identical: {'yes' if sv['same_grid'] else '**no**'}. For reference: qwen-vl-utils' own resize "
            f"{g['reference_own']} (it returns {'x'.join(map(str, g['reference_output'][0]))} "
            f"{g['reference_output'][1]}); our frames with `cap_pixels_per_frame` forced True "
            f"{g['ours_processor_capped']}, forced False {g['ours_processor_uncapped']}.",
            "",
        ]
    lines += [
        "### Targets (ours vs the floor and qwen-vl-utils)",
        "",
        f"| clip | backend | ≤ {TARGET_FLOOR}x floor | ≥ {TARGET_SPEEDUP:g}x faster than qwen-vl-utils "
        "| peak RSS ≤ 1/4 of qwen-vl-utils' | same grid |",
        "|---|---|---|---|---|---|",
    ]
    for clip, sv in s["video"].items():
        for method, row in sv["cases"].items():
            p = row["pass"]
            lines.append(
                f"| {clip} | {method.removeprefix('ours-')} | {row['x_floor']:.2f} {_ok(p['floor'])} "
                f"| {row['speedup_vs_qwen_vl_utils']:.2f}x {_ok(p['speedup'])} "
                f"| {row['rss_vs_qwen_vl_utils']:.2f} {_ok(p['rss'])} | {_ok(p['grid'])} |"
            )
    bound = ", ".join(f"{clip} {sv['qwen_vl_utils_x_floor']:.2f}x" for clip, sv in s["video"].items())
    lines += [
        "",
        f"qwen-vl-utils takes {bound} the floor's time here, so no loader that decodes the same frames can be "
        f"more than that much faster than it: the two speed targets hold together only where qwen-vl-utils takes "
        f"≥ {TARGET_SPEEDUP * TARGET_FLOOR:g}x the floor ({TARGET_SPEEDUP:g} x {TARGET_FLOOR}).",
    ]
    for clip, sv in s["video"].items():
        g = results["grid"][clip]
        cap = "qwen-vl-utils caps every frame at `VIDEO_MAX_TOKEN_NUM` = 768 tokens (786,432 px) before the processor"
        if not sv["same_grid"] and g["reference_processor"] == g["ours_processor_capped"]:
            lines.append(
                f"{clip}: the grids differ because {cap} sees it, while our budget ({_cap(g)}) spends 16,384 "
                "tokens on all frames together with no per-frame cap; the processor's `cap_pixels_per_frame=True` "
                "(transformers 5.19; the default from 5.22) gives our frames the reference's grid."
            )
        elif sv["same_grid"] and g["ours_processor_uncapped"] != g["ours_processor"]:
            lines.append(
                f"{clip}: identical because our budget asks for the per-frame cap; {cap} sees it. Uncapped "
                f"(transformers' default before 5.22) our frames would get {g['ours_processor_uncapped']}."
            )
    lines += [
        "",
        f"## (b) Large images ({IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}) → HF image processor output (best of {IMAGE_REPS})",
        "",
        "| image | pipeline | time (median) | CPU | peak RSS (after imports) | grid | resized to | visual tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for image, cases in results["images"].items():
        size = results["image_files"][image]["bytes"] / 2**20
        for method in IMAGE_METHODS:
            c = cases[method]
            if method == "ours":
                label = "ours: `load_image` + `plan_image` + processor, our budget"
            else:
                label = "PIL + processor, its released default budget"
            lines.append(
                f"| {image} ({size:.1f} MiB) | {label} | {c['best_s']:.2f} s ({statistics.median(c['times_s']):.2f}) "
                f"| {min(c['cpu_s']):.2f} s "
                f"| {c['peak_rss_mb']:.0f} MB ({c['rss_after_imports_mb']:.0f}) | {c['grid']} "
                f"| {c['resized'][1]}x{c['resized'][0]} | {c['tokens']} |"
            )
    lines.append("")
    for image, si in s["images"].items():
        lines.append(
            f"{image}: ours {si['ours_tokens']} tokens (≤ {IMAGE_MAX_TOKENS}: {_ok(si['ours_within_budget'])}; "
            f"plan = processor: {_ok(si['plan_matches_processor'])}) vs {si['hf_default_tokens']} with the "
            f"default budget; ours {si['speedup_vs_hf_default']:.2f}x faster."
        )
    return "\n".join(lines) + "\n"


def _prod(xs: list[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--only", help="run the cases whose name contains this, and write nothing")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"video": child_video, "grid": child_grid, "image": child_image, "media": child_media}[kind]
        print("RESULT " + json.dumps(fn(*rest)), flush=True)
        return
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "code": code_state(),
        "load_before": "/".join(f"{x:.1f}" for x in os.getloadavg()),
        "targets": {"x_floor_max": TARGET_FLOOR, "speedup_min": TARGET_SPEEDUP, "rss_ratio_max": TARGET_RSS},
        "clips": {},
        "image_files": {},
        "video": {},
        "grid": {},
        "images": {},
    }
    wanted = (lambda name: args.only in name) if args.only else (lambda name: True)
    print("media…", flush=True)
    media = [clip for clip in CLIPS if any(wanted(f"{clip}/{x}") for x in (*VIDEO_METHODS, "grid"))]
    media += [image for image in IMAGES if any(wanted(f"{image}/{x}") for x in IMAGE_METHODS)]
    results.update(run_child("media", *media))
    for clip in CLIPS:
        for method in VIDEO_METHODS:
            if wanted(f"{clip}/{method}"):
                print(f"video {clip} {method}…", flush=True)
                results["video"].setdefault(clip, {})[method] = run_child("video", method, clip)
        if wanted(f"{clip}/grid"):
            print(f"grid {clip}…", flush=True)
            results["grid"][clip] = run_child("grid", clip)
    for image in IMAGES:
        for method in IMAGE_METHODS:
            if wanted(f"{image}/{method}"):
                print(f"image {image} {method}…", flush=True)
                results["images"].setdefault(image, {})[method] = run_child("image", method, image)
    results["load_after"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    results["run_s"] = time.monotonic() - t0
    results["parent_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.only:
        print(json.dumps(results, indent=2))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "preprocess.json").write_text(json.dumps(results, indent=2) + "\n")  # raw, even if the rest fails
    results["summary"] = summarize(results)
    (RESULTS / "preprocess.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "preprocess.md").write_text(markdown(results))
    print(markdown(results))
    print(f"done in {results['run_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
