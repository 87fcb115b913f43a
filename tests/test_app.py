"""The app through a real ``gradio_client`` against a served page with the tiny engines."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers.clients import answers, details, plot_axis, split
from tests.helpers.clients import client as app_client
from tests.helpers.record_schema import COMPARISON

pytestmark = pytest.mark.engine
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(served):
    return app_client(served[0])


def test_status_says_ready_and_input_unlocked(client):
    status, box, _timer = client.predict(api_name="/poll")
    assert status.startswith("✅") and box["interactive"] is True
    assert "FP8 runs W8A8 FP8 with " in status  # the kernel the FP8 engine reported, and its route


def test_text_and_image_stream_into_both_panes_and_history_is_kept(client, media):
    job = client.submit({"text": "What is this?", "files": [handle_file(str(media["image"]))]}, api_name="/respond")
    updates = [split(u) for u in job]
    box, panes, metrics = updates[-1]
    assert box["interactive"] is True
    assert all(len(answers(p)) == 1 and len(answers(p)[0]) > 20 for p in panes)
    # 160 tokens each (ignore_eos); a 448x336 image is under Qwen's 256-token floor: 608x448, 266 tokens
    for line in metrics:
        assert "TTFT" in line and "tok/s" in line and "160 tokens" in line and "(266 visual" in line
    # streamed: intermediate renders show each pane's answer growing
    lengths = [[len(answers(p)[0]) for p in u[1]] for u in updates if all(answers(p) for p in u[1])]
    assert len(lengths) >= 5
    for side in (0, 1):
        partial = [row[side] for row in lengths]
        assert partial == sorted(partial) and partial[0] < partial[-1]
    # the input is emptied at the first render (locked at once when it shows the "…" placeholders
    # of a slow start, a render later otherwise) and stays locked while answering
    first = updates[0][0]
    assert first is None or first.get("value") in (None, {"text": "", "files": []})
    assert any(isinstance(u[0], dict) and u[0].get("interactive") is False for u in updates[:-1])

    _, panes, _ = split(client.predict({"text": "And in more detail?", "files": []}, api_name="/respond"))
    for pane in panes:
        assert len(answers(pane)) == 2
        users = [m for m in pane if m["role"] == "user"]
        assert users[0]["content"][0]["type"] == "file"  # the image is still in the history
        assert users[-1]["content"][0]["text"] == "And in more detail?"
    # the panes address the image by this page's URL (ui.links), and the page serves it
    file = panes[0][0]["content"][0]["file"]
    assert file["url"].startswith(client.src.rstrip("/") + "/gradio_api/file=") and file["mime_type"] == "image/png"
    served = httpx.get(file["url"])
    assert served.status_code == 200 and served.content == Path(media["image"]).read_bytes()


def test_settings_reach_both_sides(client):
    _, _, metrics = split(
        client.predict({"text": "Hi", "files": []}, max_tokens=7, temperature=0.7, seed=3, api_name="/respond")
    )
    assert all("7 tokens" in line for line in metrics)


def test_unusable_setting_is_refused_and_history_kept(client):
    _, before, _ = split(client.predict({"text": "Hi", "files": []}, max_tokens=5, api_name="/respond"))
    box, after, _ = split(client.predict({"text": "Again", "files": []}, seed=None, api_name="/respond"))
    assert after == before and box["value"]["text"] == "Again"


def test_stop_cancels_both_requests(client, served):
    pool = served[1].pool
    job = client.submit({"text": "Tell me everything.", "files": []}, max_tokens=4000, api_name="/respond")
    deadline = time.monotonic() + 30
    while not any(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)
    # /stop alone (no job.cancel()): the streaming handler sees the request and ends the turn
    box, panes, _ = split(client.predict(api_name="/stop"))
    assert box["interactive"] is True
    for pane in panes:
        assert answers(pane)[-1].endswith("⏹ *stopped*")
    deadline = time.monotonic() + 3
    while any(e.num_unfinished_requests() for e in pool.engines):
        assert time.monotonic() < deadline, "a vLLM request is still running after Stop"
        time.sleep(0.02)
    while not job.done():
        assert time.monotonic() < deadline + 5, "the turn did not end after Stop"
        time.sleep(0.02)
    final_box, final_panes, metrics = split(job.outputs()[-1])
    assert final_box["interactive"] is True and final_panes == panes  # nothing streamed after Stop
    assert all(re.search(r"\d s  \n", line) for line in metrics)  # a total time: the turn is closed


def test_bad_file_keeps_history_and_input(client, media):
    _, before, _ = split(client.predict({"text": "Hello", "files": []}, max_tokens=8, api_name="/respond"))
    box, after, _ = split(
        client.predict({"text": "What about this?", "files": [handle_file(str(media["corrupt"]))]}, api_name="/respond")
    )
    assert after == before
    assert box["value"]["text"] == "What about this?" and len(box["value"]["files"]) == 1
    assert box["interactive"] is True


def words(text: str) -> list[str]:
    """``text`` split at whitespace: what a change of spacing leaves alone."""
    return text.split()


def _number(pattern: str, line: str) -> float:
    match = re.search(pattern, line)
    assert match, f"{pattern!r} not in {line!r}"
    return float(match.group(1))


def test_metrics_are_plausible_exact_and_divergence_is_marked(client, media):
    message = {"text": "Describe it.", "files": [handle_file(str(media["image"]))]}
    updates = list(client.submit(message, api_name="/respond"))
    _, _, metrics = split(updates[-1])
    marks, plot = details(updates[-1])
    weights = []
    for side, line in enumerate(metrics):
        ttft, total = _number(r"TTFT (\d+) ms", line) / 1000, _number(r"([\d.]+) s  \n", line)
        assert 0 < ttft <= total
        assert "160 tokens" in line and "(266 visual, " in line and "peak use" in line
        weights.append(_number(r"weights ([\d.]+) MB", line))
        # the plot's curve of this side ends at every token counted, no later than the total time
        label = ["FP8", "BF16"][side]  # the legend adds what the speed does not say: "FP8 (tiny pair…)"
        points = [row for row in plot["data"] if row[2] == label or row[2].startswith(f"{label} (")]
        # the line rounds the total to 10 ms, the plot its times to 1 ms (1.9449 s: line 1.94, plot 1.945)
        assert points[-1][1] == 160 and points[-1][0] <= total + 0.0055
        assert [p[1] for p in points] == sorted(p[1] for p in points)
    low, high = plot_axis(updates[-1])  # the axis ends above the top line, on a round number
    assert low == 0 and 160 < high <= 200, (low, high)
    assert weights[0] < weights[1]  # FP8 weights are smaller than BF16's
    # the random tiny FP8 and BF16 checkpoints part within 160 greedy tokens
    first = int(_number(r"vs BF16: first divergence at token (\d+)", metrics[0]))
    assert 1 <= first <= 160 and "identical tokens" in metrics[0] and "mean |Δ logprob|" in metrics[0]
    assert "reference" in metrics[1]
    for side in (0, 1):
        marked = [m for m in marks[side] if m["class_or_confidence"] == "first divergence"]
        assert len(marked) == 1 and marked[0]["token"]
    # and the marked answer is the answer: the marks' text is the pane's text, but for whitespace,
    # which Gradio's Chatbot changes (it drops the leading run and turns a tab into spaces; the tiny
    # pair's noise has both)
    _, panes, _ = split(updates[-1])
    assert words("".join(m["token"] for m in marks[0])) == words(answers(panes[0])[-1])


def test_thinking_switch_reaches_the_template_and_reasoning_is_a_separate_block(client):
    off = split(client.predict({"text": "Why?", "files": []}, max_tokens=12, api_name="/respond"))
    client.predict(api_name="/clear")
    update = client.predict({"text": "Why?", "files": []}, max_tokens=12, enable_thinking=True, api_name="/respond")
    _, panes, metrics = split(update)
    # thinking off, the template closes the think block in the prompt: more prompt tokens
    prompt_off = _number(r"prompt (\d+) tokens", off[2][0])
    assert _number(r"prompt (\d+) tokens", metrics[0]) < prompt_off
    for pane in panes:
        bot = [m for m in pane if m["role"] == "assistant"]
        assert bot[0]["metadata"]["title"] == "🧠 Reasoning"
        reasoning = bot[0]["content"][0]["text"]
        assert reasoning and reasoning != "…"


def test_regenerate_replaces_the_last_answers_and_edit_takes_the_turn_back(client):
    client.predict({"text": "First", "files": []}, max_tokens=5, api_name="/respond")
    client.predict({"text": "Second", "files": []}, max_tokens=5, api_name="/respond")
    _, panes, metrics = split(client.predict(max_tokens=9, api_name="/regenerate"))
    assert all(len(answers(p)) == 2 for p in panes)  # replaced, not added
    assert all("9 tokens" in line for line in metrics)
    box, panes, _ = split(client.predict(api_name="/edit"))
    assert box["value"]["text"] == "Second" and box["interactive"] is True
    assert all(len(answers(p)) == 1 for p in panes)
    assert [m["content"][0]["text"] for m in panes[0] if m["role"] == "user"] == ["First"]


def test_export_downloads_json_and_markdown_of_the_comparison(client, media):
    client.predict({"text": "Look", "files": [handle_file(str(media["image"]))]}, max_tokens=16, api_name="/respond")
    files = client.predict(api_name="/export")["value"]
    assert sorted(f["orig_name"] for f in files) == ["comparison.json", "comparison.md"]
    body = {f["orig_name"]: httpx.get(f["url"], timeout=10).text for f in files}
    rec = json.loads(body["comparison.json"])
    turn = rec["turns"][0]
    assert turn["text"] == "Look"
    assert turn["files"] == [
        {
            "name": media["image"].name,
            "kind": "image",
            "resized": [608, 448],
            "frames": 1,
            "grid_thw": [1, 28, 38],
            "visual_tokens": 266,
        }
    ]
    assert turn["settings"]["max_tokens"] == 16 and turn["settings"]["temperature"] == 0.0
    for answer in turn["answers"]:
        assert answer["output_tokens"] == 16 and answer["visual_tokens"] == 266 and answer["ttft_s"] > 0
    assert turn["agreement"][0]["label"] == "FP8" and turn["agreement"][0]["against"] == "BF16"
    fp8, bf16 = rec["sides"]
    assert fp8["quant_kernel"] and fp8["quant_route"] and bf16["quant_kernel"] is None  # what ran, by name
    assert f"with {fp8['quant_kernel']} ({fp8['quant_route']})" in body["comparison.md"]
    # on CPU, the GEMM vLLM picked for each side's linear layers, read from the engines (the same one)
    assert fp8["cpu_gemm"] and fp8["cpu_gemm"] == bf16["cpu_gemm"], (fp8["cpu_gemm"], bf16["cpu_gemm"])
    assert f"matmuls on {fp8['cpu_gemm']}" in body["comparison.md"]
    jsonschema.validate(rec, COMPARISON)
    assert "/tmp" not in body["comparison.json"]  # no server paths
    assert "## Turn 1" in body["comparison.md"] and "| FP8 |" in body["comparison.md"]


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    from tests.helpers.media_factory import bad_inputs

    return bad_inputs(tmp_path_factory.mktemp("bad"))


EXPECTED = {  # bad input -> what the message says (a .pdf never gets here: Gradio's file_types refuse it)
    "empty": "the file is empty",
    "text-as-png": "not a readable image",
    "truncated": "not a readable image",
    "too-elongated": "too elongated",
    "bomb": "too large to decode safely",
    "audio-only": "no video stream",
    "truncated-video": "not a readable video",
    "too-long": "lasts 11 s",
}


def test_each_bad_file_is_refused_by_name_and_nothing_else_is_lost(client, media, bad):
    """A good image next to the bad file: the message names the bad one, the box keeps both,
    the history stays, and the app serves the next request."""
    _, before, _ = split(client.predict({"text": "Hello", "files": []}, max_tokens=4, api_name="/respond"))
    for kind, needle in EXPECTED.items():
        files = [handle_file(str(media["image"])), handle_file(str(bad[kind]))]
        job = client.submit({"text": f"About {kind}?", "files": files}, api_name="/respond")
        box, after, _ = split(job.result())
        assert after == before, kind
        assert box["value"]["text"] == f"About {kind}?" and len(box["value"]["files"]) == 2, kind
        preview = client.predict({"text": "", "files": files}, 64, 1280, 2, 32, 4096, api_name="/preview")[2]
        assert needle in preview and bad[kind].name in preview, (kind, preview)  # said in the notice
        assert "/tmp" not in preview, kind  # the name, never the server path
    with pytest.raises(AppError, match="Invalid file type"):  # Gradio's own guard, before the app
        client.predict({"text": "Text?", "files": [handle_file(str(bad["unsupported"]))]}, api_name="/respond")
    _, panes, _ = split(client.predict({"text": "Still there?", "files": []}, max_tokens=4, api_name="/respond"))
    assert all(len(answers(p)) == 2 for p in panes)


def test_too_many_files_are_refused_before_decoding(client, media):
    files = [handle_file(str(media["image"]))] * 9  # one request takes 8 images
    box, panes, _ = split(client.predict({"text": "All of them", "files": files}, api_name="/respond"))
    assert all(not answers(p) for p in panes) and len(box["value"]["files"]) == 9
    preview = client.predict({"text": "", "files": files}, 64, 1280, 2, 32, 4096, api_name="/preview")[2]
    assert "at most 8" in preview


def test_the_preview_counts_tokens_against_the_context_before_sending(client, media):
    files = [handle_file(str(media["image"])), handle_file(str(media["video"]))]
    gallery, summary, _ = client.predict({"text": "", "files": files}, 256, 1280, 2, 32, 4096, api_name="/preview")
    captions = [item["caption"] for item in gallery["value"]]
    assert captions[0] == f"{media['image'].name}: 608×448 px → 19×14 tokens = 266"  # raised to the 256 floor
    assert "frames" in captions[1] and "temporal patches" in captions[1]
    assert "Conversation: " in summary and "of a 8192-token context" in summary and "does not fit" not in summary
    # a budget that cannot fit: said before sending, and refused when sent
    _, summary, _ = client.predict({"text": "", "files": files}, 8000, 1280, 2, 32, 4096, api_name="/preview")
    assert "does not fit" in summary
    box, panes, _ = split(client.predict({"text": "Too much", "files": files}, max_tokens=8000, api_name="/respond"))
    assert all(not answers(p) for p in panes) and box["value"]["text"] == "Too much"


@pytest.mark.reliability
def test_only_uploads_and_examples_are_served_and_no_server_path_is_taken(client, served, tiny_dir):
    """No file outside Gradio's uploads and the shipped examples can be read through the page,
    and a message may not name a server file it never uploaded."""

    url = served[0]
    for path in ("/etc/hostname", str(ROOT / "app.py"), str(tiny_dir / "bf16" / "config.json")):
        response = httpx.get(f"{url}gradio_api/file={path}", timeout=10)
        assert response.status_code in (403, 404), (path, response.status_code)
    client.predict({"text": "Hello", "files": []}, max_tokens=4, api_name="/respond")
    for path in (ROOT / "docs" / "screenshot-preview.png", Path("/etc/hostname")):  # a real PNG, not an example
        forged = {"path": str(path), "meta": {"_type": "gradio.FileData"}}  # raw: gradio_client would upload it
        event = httpx.post(f"{url}gradio_api/call/respond", json={"data": [{"text": "x", "files": [forged]}]})
        with httpx.stream("GET", f"{url}gradio_api/call/respond/{event.json()['event_id']}", timeout=30) as stream:
            said = "".join(stream.iter_text())
        assert said.startswith("event: error") and "event: complete" not in said, said[:300]
    _, panes, _ = split(client.predict({"text": "Still fine?", "files": []}, max_tokens=4, api_name="/respond"))
    assert all(len(answers(p)) == 2 for p in panes)


@pytest.mark.reliability
def test_the_api_takes_no_model_id_or_path_from_the_browser(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, endpoint in api.items():
        for parameter in endpoint["parameters"]:
            label = f"{parameter['parameter_name']} {parameter.get('label', '')}".lower()
            assert "model" not in label and "path" not in label and "dir" not in label, (name, label)
            assert parameter["component"] in {
                "Multimodaltextbox",
                "Slider",
                "Number",
                "Textbox",
                "Checkbox",
                "Radio",  # the timing: fixed choices, anything else refused by ui.settings
                "File",  # an uploaded prompt set: Gradio takes only files uploaded to its own cache
                "State",
            }, (name, parameter["component"])
