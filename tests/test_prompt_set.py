"""A prompt set with its media in a zip (``inference.evaluation.prompts``), the each-alone order and
the report's timing (no engine): one check for the command line and the Evaluation tab, the
same sentence from both, safe unpacking (traversal, links, types, sizes), and speed medians
only from answers timed alone.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from inference.compare.metrics import Chunk, SideMetrics
from inference.compare.transcript import Answer, Exchange
from inference.engines.base import Footprint
from inference.errors import DemoError
from inference.evaluation.evaluate import Outcome, order
from inference.evaluation.prompts import Prompt, ZipLimits, load_prompts, unpack_media
from inference.evaluation.report import build, markdown
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.inputs.samples import make_chart, make_clip
from inference.spec import cpu_pair

ROOT = Path(__file__).resolve().parents[1]


def zipped(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def jsonl(path: Path, *lines: dict | str) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


@pytest.fixture
def media_zip(tmp_path) -> Path:
    """A chart and a clip in a folder inside the zip, and the clutter macOS's Finder adds."""
    made = tmp_path / "made"
    made.mkdir()
    chart, clip = make_chart(made).read_bytes(), make_clip(made, seconds=0.5).read_bytes()
    entries = {"media/chart.png": chart, "media/clip.mp4": clip, "__MACOSX/media/._chart.png": b"x"}
    return zipped(tmp_path / "media.zip", {**entries, "media/.DS_Store": b"x"})


def test_a_set_with_a_media_zip_resolves_names_inside_the_unpacked_zip(tmp_path, media_zip):
    lines = [{"id": "c", "text": "Max?", "files": ["media/chart.png"]}, {"text": "Move?", "files": ["media/clip.mp4"]}]
    path = jsonl(tmp_path / "set.jsonl", *lines, {"text": "Hi"})
    prompts = load_prompts(path, media_zip, tmp_path / "unpacked", beside=False)
    assert [(p.id, p.kind) for p in prompts] == [("c", "image"), ("p2", "video"), ("p3", "text")]
    assert prompts[0].files == (str(tmp_path / "unpacked" / "media" / "chart.png"),)
    assert sorted(f.name for f in (tmp_path / "unpacked").rglob("*") if f.is_file()) == ["chart.png", "clip.mp4"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "set.jsonl, line 1: not JSON"),
        ({"text": "a", "files": ["media/missing.png"]}, "set.jsonl, line 1: no file media/missing.png in media.zip."),
        ({"text": "a", "files": ["../set.jsonl"]}, "is outside the media folder"),
        ({"text": "a", "files": "media/chart.png"}, "'files' must be a list of strings"),
        ({"text": "a", "expect": [3]}, "'expect' must be a list of strings"),
    ],
)
def test_a_bad_line_of_an_uploaded_set_is_one_sentence_with_its_line(tmp_path, media_zip, line, says):
    path = jsonl(tmp_path / "set.jsonl", line)
    with pytest.raises(DemoError, match=says.replace(".", r"\.").replace("(", r"\(")):
        load_prompts(path, media_zip, tmp_path / "unpacked", beside=False)


def test_the_page_never_looks_beside_the_upload_for_media(tmp_path):
    make_chart(tmp_path)  # beside the JSONL: the command line finds it, the page must not
    path = jsonl(tmp_path / "set.jsonl", {"text": "a", "files": ["chart.png"]})
    assert load_prompts(path)[0].files == (str(tmp_path / "chart.png"),)
    with pytest.raises(DemoError, match=re.escape("line 1: names chart.png, but no media zip was given")):
        load_prompts(path, beside=False)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../evil.png", r"\.\./evil\.png would land outside the media folder"),
        ("/tmp/evil.png", "/tmp/evil.png would land outside the media folder"),
        ("a/../../evil.png", r"a/\.\./\.\./evil\.png would land outside the media folder"),
        ("notes.txt", "notes.txt is not an image or video the app takes"),
        ("run.sh", "run.sh is not an image or video"),
    ],
)
def test_an_unsafe_or_foreign_zip_entry_refuses_the_zip_and_writes_nothing_outside(tmp_path, name, says):
    archive = zipped(tmp_path / "m.zip", {name: b"\x89PNG"})
    with pytest.raises(DemoError, match=f"m.zip: {says}"):
        unpack_media(archive, tmp_path / "out" / "in")
    assert not (tmp_path / "out" / "evil.png").exists() and not (tmp_path / "evil.png").exists()
    assert not Path("/tmp/evil.png").exists()


def test_a_link_in_the_zip_is_refused(tmp_path):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("pic.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DemoError, match=re.escape("m.zip: pic.png is a link")):
        unpack_media(archive, tmp_path / "out")


def test_a_zip_too_large_unpacked_is_refused_while_writing_and_leaves_nothing(tmp_path):
    bomb = zipped(tmp_path / "bomb.zip", {"a.png": b"\0" * (3 * 2**20)})  # 3 MiB of zeros: a few KiB zipped
    assert bomb.stat().st_size < 2**15
    with pytest.raises(DemoError, match=r"bomb.zip: a.png is over 1 MiB unpacked"):
        unpack_media(bomb, tmp_path / "out", ZipLimits(file_bytes=2**20))
    assert not (tmp_path / "out").exists()
    two = zipped(tmp_path / "two.zip", {"a.png": b"\0" * 2**20, "b.png": b"\0" * 2**20})
    with pytest.raises(DemoError, match=r"two.zip: the media are over 1 MiB unpacked"):
        unpack_media(two, tmp_path / "out", ZipLimits(total_bytes=2**20 + 10))
    mine = tmp_path / "mine"  # a folder that was there before keeps what it held
    mine.mkdir()
    (mine / "keep.png").write_bytes(b"x")
    with pytest.raises(DemoError, match=re.escape("a.png is over")):
        unpack_media(bomb, mine, ZipLimits(file_bytes=2**20))
    assert (mine / "keep.png").exists()
    many = zipped(tmp_path / "many.zip", {f"{i}.png": b"x" for i in range(4)})
    with pytest.raises(DemoError, match=re.escape("many.zip: 4 files, more than the 3")):
        unpack_media(many, tmp_path / "out", ZipLimits(files=3))


def test_a_file_that_is_no_zip_or_no_text_is_one_sentence(tmp_path):
    fake = tmp_path / "media.zip"
    fake.write_bytes(b"not a zip")
    path = jsonl(tmp_path / "set.jsonl", {"text": "a"})
    with pytest.raises(DemoError, match=re.escape("media.zip: not a zip file")):
        load_prompts(path, fake, tmp_path / "out")
    (tmp_path / "latin.jsonl").write_bytes('{"text": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(DemoError, match=re.escape("latin.jsonl: not UTF-8 text")):
        load_prompts(tmp_path / "latin.jsonl")


def test_the_command_line_and_the_tab_refuse_a_bad_set_with_the_same_sentence(tmp_path, tiny_dir):
    from ui.evaluation import Evaluation

    path = jsonl(tmp_path / "set.jsonl", {"text": "ok"}, {"text": "a", "files": ["gone.png"]})
    archive = zipped(tmp_path / "media.zip", {"here.png": b"\x89PNG"})
    said = "set.jsonl, line 2: no file gone.png in media.zip."
    assert Evaluation(None).check(str(path), str(archive)) == f"⚠️ {said}"
    cmd = [sys.executable, "-m", "inference.evaluation", "--prompts", str(path), "--media", str(archive)]
    cmd += ["--out", str(tmp_path / "out"), "--device", "cpu", "--tiny-dir", str(tiny_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == said


def test_the_tab_names_the_set_it_will_run(tmp_path, media_zip):
    from ui.evaluation import Evaluation

    path = jsonl(tmp_path / "set.jsonl", {"text": "Max?", "files": ["media/chart.png"]}, {"text": "Hi"})
    evaluation = Evaluation(None)
    said = "✅ set.jsonl: 2 prompts (image 1, text 1); Run evaluates this set."
    assert evaluation.check(str(path), str(media_zip)) == said
    assert evaluation.check(None, None).startswith("Run evaluates the built-in set (12 prompts)")
    assert evaluation.check(None, str(media_zip)).startswith("⚠️ A media zip came without its prompt set")


def test_each_alone_rotates_which_side_goes_first():
    assert [order(i, 2) for i in range(3)] == [[0, 1], [1, 0], [0, 1]]
    assert [order(i, 3)[0] for i in range(3)] == [0, 1, 2] and sorted(order(1, 3)) == [0, 1, 2]


def answered(ttfts: list[float]) -> Exchange:
    """Two sides, each with 4 tokens after the given TTFT, 0.1 s apart."""
    ex = Exchange(UserTurn("hi"), GenerationSettings(), [Answer(SideMetrics(0.0)) for _ in ttfts])
    for answer, ttft in zip(ex.answers, ttfts, strict=True):
        for k in range(4):
            chunk = Chunk("a", 1, token_ids=(1,), logprobs=(-0.1,), finish_reason="length" if k == 3 else None)
            answer.add(chunk, ttft + 0.1 * k)
        answer.finish(ttft + 0.4)
    return ex


def test_the_speed_medians_count_only_answers_timed_alone_and_the_report_says_how_it_timed():
    specs = cpu_pair(Path("/nowhere/tiny"))
    p = Prompt("p", "hi")
    outcomes = [Outcome(p, answered([0.2, 0.3])), Outcome(Prompt("q", "hi"), answered([9.0, 0.5]), shared=(0,))]
    rep = build(specs, [Footprint(1, 2)] * 2, outcomes, GenerationSettings(), "set.jsonl", "each alone")
    fp8, bf16 = rep["summary"]["sides"]
    assert fp8["median_ttft_s"] == 0.2 and fp8["timed_alone"] == 1  # the 9 s answer beside a chat turn: left out
    assert bf16["median_ttft_s"] == 0.4 and bf16["timed_alone"] == 2
    assert [a["timed_alone"] for a in rep["prompts"][1]["answers"]] == [False, True]
    md = markdown(rep)
    assert "Speed, timed each alone" in md and "race timings" in md and "median TTFT alone (ms)" in md
    assert "1 of 4 answers saw another request (a chat turn) while timed" in md
