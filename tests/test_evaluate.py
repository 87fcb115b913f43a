"""The batch evaluation: its command line (a subprocess), the app's Evaluation tab through
``gradio_client`` (the built-in set and an uploaded one with its media zip) and in Chromium (the
uploaded one; the built-in set in Chromium is ``tests/test_evaluation_resume.py``'s run, so that
the suite runs it once), each side answering alone on the real engines, and the prompt-set reader.

Engines: one subprocess pair (the same BF16 checkpoint twice) and the served tiny FP8/BF16 pair
(``served``, shared by the tab's tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import jsonschema
import pytest

from inference.deploy.processes import stop_group
from inference.errors import DemoError
from inference.evaluation.evaluate import Prompt, load_prompts, order, run
from inference.inputs.samples import EVALUATION, make_chart, make_clip
from tests.helpers.clients import client as app_client
from tests.helpers.record_schema import REPORT

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = ("agreement.png", "speed.png", "divergence.png", "worst.png", "ceiling.png")
CARD = ("card.md", "card.html")


def small_set(folder: Path) -> Path:
    """Text, image and video prompts, media in a subfolder (paths relative to the set)."""
    media = folder / "media"
    media.mkdir(parents=True)
    make_chart(media)
    make_clip(media, seconds=1.0)
    lines = [
        {"id": "chart", "text": "Which day had the most orders?", "files": ["media/chart.png"], "expect": ["thu"]},
        {"id": "clip", "text": "Which way does the square move?", "files": ["media/clip.mp4"], "expect": ["right"]},
        {"text": "Say hello."},
    ]
    path = folder / "set.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def zipped_set(folder: Path) -> tuple[Path, Path]:
    """``small_set``'s JSONL and its media folder as a zip (names as in the set), apart: an upload."""
    path = small_set(folder / "made")
    archive = folder / "media.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (folder / "made" / "media").iterdir():
            zf.write(f, f"media/{f.name}")
    upload = folder / "upload"
    upload.mkdir()
    return path.replace(upload / "set.jsonl"), archive


# --- the prompt set --------------------------------------------------------------------------


def test_prompt_set_resolves_media_next_to_it_and_checks_whole_words(tmp_path):
    prompts = load_prompts(small_set(tmp_path))
    assert [p.id for p in prompts] == ["chart", "clip", "p3"]
    assert prompts[0].files == (str(tmp_path / "media" / "chart.png"),)
    assert [p.kind for p in prompts] == ["image", "video", "text"]
    chart = prompts[0]
    assert chart.correct("Thursday? No: THU had 9.") is True and chart.correct("Thursday had 9") is False
    assert prompts[2].correct("anything") is None  # nothing expected: not checked
    assert Prompt("x", "t", expect=("9|nine", "thu(rsday)?")).correct("Thursday, nine orders") is True


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "not JSON"),
        ('{"files": []}', "'text' string"),
        ('{"text": "a", "files": ["missing.png"]}', "no file missing.png"),
        ('{"text": "a", "expect": ["(unclosed"]}', "not a regular expression"),
        ('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}', "used twice"),
    ],
)
def test_a_bad_prompt_line_is_refused_with_its_line_number(tmp_path, line, says):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DemoError, match=says) as caught:
        load_prompts(path)
    assert "bad.jsonl, line" in str(caught.value)


def test_builtin_set_has_text_image_and_video_prompts_with_known_answers():
    kinds = {Prompt(p.id, p.text, tuple(f"/set/{f}" for f in p.files)).kind for p in EVALUATION}
    assert {"text", "image", "video"} <= kinds
    assert sum(bool(p.expect) for p in EVALUATION) >= len(EVALUATION) - 2
    assert len({p.id for p in EVALUATION}) == len(EVALUATION)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def same_checkpoint(tiny_dir, tmp_path_factory):
    """``python -m inference.evaluation`` with the same BF16 checkpoint on both sides: ``(result, out)``."""
    folder = tmp_path_factory.mktemp("same")
    bf16 = str(tiny_dir / "bf16")
    cmd = [sys.executable, "-m", "inference.evaluation", "--prompts", str(small_set(folder))]
    cmd += ["--out", str(folder / "out")]
    cmd += ["--model", f"BF16-a={bf16}", "--model", f"BF16-b={bf16}", "--max-tokens", "8", "--device", "cpu"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, **pipes)
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:  # its engines are in its process group
            stop_group(proc, grace=0)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout, folder / "out"


@pytest.mark.engine
def test_command_line_writes_report_json_markdown_and_plots(same_checkpoint):
    stdout, out = same_checkpoint
    names = ["report.json", "report.md", *PLOTS, *CARD]
    printed = [Path(line).name for line in stdout.splitlines() if line.startswith(str(out))]  # vLLM logs there too
    assert printed == names
    for name in names:
        assert (out / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (out / name).read_bytes().startswith(PNG)
    md = (out / "report.md").read_text()
    assert "# FP8 vs BF16 evaluation" in md and "| BF16-a vs BF16-b |" in md and "![agreement](agreement.png)" in md
    assert "### chart: Which day had the most orders?" in md


@pytest.mark.engine
def test_same_checkpoint_on_both_sides_agrees_on_every_token(same_checkpoint):
    rep = json.loads((same_checkpoint[1] / "report.json").read_text())
    jsonschema.validate(rep, REPORT)
    assert rep["reference"] == "BF16-b" and [p["kind"] for p in rep["prompts"]] == ["image", "video", "text"]
    for p in rep["prompts"]:
        (row,) = p["agreement"]
        assert row["token_agreement"] == 1.0 and row["exact_match"] and row["first_divergence"] is None
        assert row["mean_abs_logprob_gap"] == 0.0 and row["common_prefix_tokens"] == row["tokens_compared"] > 0
        assert p["answers"][0]["reply"] == p["answers"][1]["reply"]
    (summary,) = rep["summary"]["agreement"]
    assert summary["mean_token_agreement"] == 1.0 and summary["exact_matches"] == 3
    assert summary["mean_abs_logprob_gap"] == 0.0 and summary["median_first_divergence"] is None
    # cross-scored: the same model finds the other's answer exactly as likely as its own
    assert summary["cross_scored"] >= 1 and summary["mean_cross_score"] == summary["mean_cross_score_reverse"] == 0.0
    assert "Agreement cascades" in (same_checkpoint[1] / "report.md").read_text()
    # the paired evidence: no flips, KL exactly 0, the same best token everywhere, and so for the noise floor
    (side,), noise = rep["evidence"]["sides"], rep["evidence"]["noise_floor"]
    for part in (side, noise):
        assert part["flips_lost"] == part["flips_gained"] == 0 and part["flips_p_value"] == 1.0
        assert part["kl_mean"] == part["kl_max"] == 0.0 and part["top1_agreement"] == 1.0 and part["positions"] > 0
        assert part["ci"]["kl_mean"] == [0.0, 0.0] and part["ci"]["top1_agreement"] == [1.0, 1.0]
    assert side["checked"] == 2 and side["side_accuracy"] == side["ref_accuracy"] and side["recovery"] in (None, 100.0)
    ceiling = rep["evidence"]["ceiling"]
    assert [c["ideal_speedup"] for c in ceiling] == [1.0, 1.0] and ceiling[0]["map"]["decode_step_bytes"] > 0
    assert "Evidence card" in (same_checkpoint[1] / "card.md").read_text()
    image = rep["prompts"][0]["answers"][0]
    assert image["visual_tokens"] == rep["prompts"][0]["files"][0]["visual_tokens"] > 0 and image["text_tokens"] > 0


# --- the tab, through gradio_client --------------------------------------------------------------


def download(url: str) -> bytes:
    r = httpx.get(url, timeout=30)
    r.raise_for_status()
    return r.content


@pytest.mark.engine
def test_tab_evaluates_fp8_against_bf16_while_chat_goes_on_and_offers_the_report(served):

    url, comparison = served
    client = app_client(url)
    job = client.submit(16, api_name="/evaluate")
    deadline = time.monotonic() + 120
    while not any("1/" in (u[0] or "") for u in job.outputs()):  # the first prompt is through
        assert time.monotonic() < deadline and not job.done(), job.outputs()[-1:]
        time.sleep(0.2)
    chat = app_client(url)  # another user, chatting meanwhile
    update = chat.predict({"text": "Hi", "files": []}, max_tokens=8, api_name="/respond")
    assert all("8 tokens" in line for line in update[3:5])
    assert not job.done(), "the evaluation ended before the chat turn: nothing shows it ran beside it"
    status, tables, plots, files = job.result(timeout=600)  # (gradio_client leaves the Run button out)
    updates = job.outputs()
    n = len(EVALUATION)
    statuses = [u[0] for u in updates]
    assert all(any(f"{k}/{n} prompts" in line for line in statuses) for k in range(1, n + 1))  # progress
    assert status.startswith(f"✅ {n} prompts") and "| FP8 vs BF16 |" in tables
    assert [download(p["image"]["url"])[:8] for p in plots["value"]] == [PNG] * len(PLOTS)  # shown with its plots
    by_name = {f["orig_name"]: f["url"] for f in files["value"]}
    assert sorted(by_name) == ["card.html", "card.md", "report.json", "report.md"]
    rep = json.loads(download(by_name["report.json"]))
    jsonschema.validate(rep, REPORT)
    assert "## Per prompt" in download(by_name["report.md"]).decode()
    # tiny FP8 against tiny BF16: they part somewhere, and every figure is there
    (summary,) = rep["summary"]["agreement"]
    assert summary["mean_token_agreement"] < 1.0 and summary["exact_matches"] < n
    assert None not in summary.values() and all(None not in s.values() for s in rep["summary"]["sides"])
    assert {p["kind"] for p in rep["prompts"]} == {"text", "image", "video"} and not rep["summary"]["failed_prompts"]
    for p in rep["prompts"]:
        for a in p["answers"]:
            assert a["output_tokens"] == 16 and a["finish_reason"] == "length"
            assert None not in (a["ttft_s"], a["decode_tokens_per_s"], a["prompt_tokens"], a["visual_tokens"])
            assert (a["correct"] is None) == (not p["expect"])
    rows = [p["agreement"][0] for p in rep["prompts"]]
    assert any(r["first_divergence"] is not None for r in rows)
    assert any(r["mean_abs_logprob_gap"] is not None and r["mean_abs_logprob_gap"] > 0 for r in rows)
    # every answer cross-scored (the summary's None check above covers its mean), and nothing left running
    assert summary["cross_scored"] == n and any(r["cross_score_mean"] != 0.0 for r in rows)
    assert all(e.num_unfinished_requests() == 0 for e in comparison.pool.engines)
    # the paired evidence, FP8 against BF16 and BF16 against itself, every headline figure with an interval
    (side,), noise = rep["evidence"]["sides"], rep["evidence"]["noise_floor"]
    assert side["kl_mean"] > 0 and side["positions"] > 0 and noise["controls"] == n
    for key in ("top1_agreement", "kl_mean", "kl_p50", "kl_p90", "kl_p99", "kl_max"):
        lo, hi = side["ci"][key]
        assert lo <= side[key] <= hi, key
    assert "Evidence card" in download(by_name["card.html"]).decode()


# --- the tab, in Chromium -----------------------------------------------------------------------


def run_in_tab(page) -> None:
    """Run the Evaluation tab at 8 new tokens (its slider's least) and wait for its five plots and the
    Run button back."""
    field = page.locator("#eval-max-tokens input[type=number]")
    field.fill("8")
    field.press("Enter")
    page.click("#eval-run")
    page.wait_for_function("() => document.querySelectorAll('#eval-plots img').length === 5", timeout=300_000)
    page.wait_for_function("() => !document.querySelector('#eval-run').disabled", timeout=30_000)


def test_the_command_line_module_does_not_load_torch_before_it_sets_the_cpu_settings():
    code = "import sys, inference.evaluation.evaluate, inference.evaluation.report; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


# --- each side alone, an uploaded set ---------------------------------------------------------------


class Watched:
    """An engine whose ``stream`` notes when it starts and ends and, at every chunk, how many
    requests every *other* engine holds (vLLM's own count)."""

    def __init__(self, engine, side: int, engines: list, log: list):
        self.engine, self.side, self.engines, self.log = engine, side, engines, log

    def __getattr__(self, name):  # spec, score, ...: the engine's own
        return getattr(self.engine, name)

    def num_unfinished_requests(self) -> int:
        return self.engine.num_unfinished_requests()

    async def stream(self, prepared, answers, settings):
        self.log.append(("start", self.side, time.monotonic()))
        async for chunk in self.engine.stream(prepared, answers, settings):
            others = [e.num_unfinished_requests() for e in self.engines if e is not self.engine]
            self.log.append(("chunk", self.side, others))
            yield chunk
        self.log.append(("end", self.side, time.monotonic()))


@pytest.mark.engine
def test_each_side_answers_alone_while_the_other_engine_holds_no_request(served, tmp_path):
    from inference.inputs.chat import GenerationSettings
    from tests.helpers.engines import on_engine_loop

    engines, log = served[1].pool.engines, []
    watched = [Watched(e, i, engines, log) for i, e in enumerate(engines)]
    prompts = load_prompts(small_set(tmp_path))

    async def evaluate():
        settings = GenerationSettings(max_tokens=8, ignore_eos=True)  # the noise floor's two requests at once: off
        return [o async for o in run(watched, prompts, settings, noise=False)]

    outcomes = on_engine_loop(engines[0], evaluate(), timeout=300)
    assert [o.error for o in outcomes] == ["", "", ""] and all(o.shared == () for o in outcomes)
    ends = [(kind, side) for kind, side, _ in log if kind != "chunk"]
    expected = [(k, side) for i in range(len(prompts)) for side in order(i, 2) for k in ("start", "end")]
    assert ends == expected  # one side, then the other; the first side rotates
    chunks = [others for kind, _, others in log if kind == "chunk"]
    assert len(chunks) >= 3 * 2 * 2 and all(others == [0] for others in chunks)
    for o in outcomes:  # each side's clock starts at its own request: TTFT is that side's alone
        assert all(a.metrics.ttft is not None and 0 < a.metrics.ttft < 30 for a in o.exchange.answers)
        first, second = (o.exchange.answers[s].metrics for s in order(outcomes.index(o), 2))
        assert second.started >= first.ended
        assert o.exchange.cross and o.exchange.cross_note == ""  # then cross-scored, after both answers


@pytest.mark.engine
def test_tab_evaluates_an_uploaded_set_with_its_media_zip_and_refuses_a_bad_one(served, tmp_path):
    from gradio_client import handle_file

    path, archive = zipped_set(tmp_path)
    client = app_client(served[0])
    checked = client.predict(handle_file(str(path)), handle_file(str(archive)), api_name="/check_set")
    assert checked == "✅ set.jsonl: 3 prompts (image 1, text 1, video 1); Run evaluates this set."
    status, tables, plots, files = client.predict(
        8, handle_file(str(path)), handle_file(str(archive)), api_name="/evaluate"
    )
    assert status.startswith("✅ 3 prompts from the set.jsonl evaluated") and "timed each alone" in status
    assert [download(p["image"]["url"])[:8] for p in plots["value"]] == [PNG] * len(PLOTS)  # shown with its plots
    assert "3 prompts from the set.jsonl" in tables and "median TTFT alone (ms)" in tables
    rep = json.loads(download({f["orig_name"]: f["url"] for f in files["value"]}["report.json"]))
    jsonschema.validate(rep, REPORT)
    assert rep["source"] == "set.jsonl" and rep["timing"] == "each alone"
    assert [(p["id"], p["kind"]) for p in rep["prompts"]] == [("chart", "image"), ("clip", "video"), ("p3", "text")]
    assert [f["name"] for p in rep["prompts"] for f in p["files"]] == ["chart.png", "clip.mp4"]
    assert rep["prompts"][0]["files"][0]["visual_tokens"] > 0 and not rep["summary"]["failed_prompts"]
    assert all(a["timed_alone"] and a["output_tokens"] == 8 for p in rep["prompts"] for a in p["answers"])
    assert all(s["timed_alone"] == 3 and s["median_ttft_s"] is not None for s in rep["summary"]["sides"])
    # a zip that would write outside its folder: one sentence, nothing run
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../evil.png", b"x")
    status, *_ = client.predict(8, handle_file(str(path)), handle_file(str(evil)), api_name="/evaluate")
    assert status == "⚠️ evil.zip: ../../evil.png would land outside the media folder; refused."


@pytest.mark.engine
@pytest.mark.browser
def test_tab_in_the_browser_takes_an_uploaded_set_and_its_zip(served, tmp_path, pictures):
    from tests.helpers.browser import app_page

    path, archive = zipped_set(tmp_path)
    bad = tmp_path / "bad" / "set.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"text": "ok"}\n{"text": "a", "files": ["media/gone.png"]}\n')
    with app_page(served[0]) as page:
        page.get_by_role("tab", name="Evaluation").click()
        assert page.inner_text("#eval-chosen").startswith("Run evaluates the built-in set")
        page.set_input_files("#eval-set input[type=file]", str(archive))  # the zip in the set's place
        page.wait_for_selector("#eval-chosen:has-text('media.zip: not UTF-8 text')")
        page.locator("#eval-set button[aria-label='Clear']").click()
        page.set_input_files("#eval-media input[type=file]", str(archive))
        page.set_input_files("#eval-set input[type=file]", str(bad))
        page.wait_for_selector("#eval-chosen:has-text('line 2: no file media/gone.png in media.zip')")
        pictures.shoot(page, "browser-evaluation-upload-refused.png", full_page=True)
        page.locator("#eval-set button[aria-label='Clear']").click()
        page.set_input_files("#eval-set input[type=file]", str(path))
        page.wait_for_selector("#eval-chosen:has-text('set.jsonl: 3 prompts (image 1, text 1, video 1)')")
        run_in_tab(page)
        assert page.inner_text("#eval-status").startswith("✅ 3 prompts from the set.jsonl")
        tables = page.inner_text("#eval-tables")
        assert "Speed, timed each alone" in tables and "chart" in tables and "clip" in tables
        pictures.shoot(page, "browser-evaluation-upload.png", docs="screenshot-evaluation-upload.png", full_page=True)
