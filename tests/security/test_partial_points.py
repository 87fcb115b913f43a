"""The partial points of issue 27, each as an outside client meets it: a share page's Markdown
links and images and its Content-Security-Policy, a zip that declares more than it may unpack,
an image with more pixels than the demo decodes, model paths and credentials in what the page and
``/metrics`` show, file names in the refusal log, and Gradio's own ``/monitoring`` route.

Served with fake engines (``tests.helpers.fake_app``) through ``gradio_client`` and plain HTTP.
"""

from __future__ import annotations

import logging
import re
import time
import zipfile

import httpx
import pytest
from gradio_client import handle_file
from PIL import Image

from inference.errors import DemoError
from inference.evaluation.prompts import ZipLimits, unpack_media
from inference.spec import ModelSpec, public_url
from tests.helpers.clients import client, notice
from tests.helpers.fake_app import serve_fake
from ui.share import CSP
from ui.telemetry import _unpath

LINK = re.compile(r"\((http://[^)]+/shared/[^)]+)\)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve_fake(tmp_path_factory.mktemp("partial")) as s:
        yield s


def test_a_shared_page_renders_no_outside_image_or_link_and_sends_a_strict_policy(served):
    url, _ = served
    c = client(url, "10.3.0.1")
    text = "![pixel](http://198.51.100.9/pixel.png) [click me](https://evil.example/login) <https://evil.example>"
    c.predict({"text": text, "files": []}, api_name="/respond")
    link = LINK.search(c.predict(api_name="/share")).group(1)
    got = httpx.get(link, timeout=30)
    assert got.status_code == 200 and got.headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP and "img-src data:" in CSP
    links = re.findall(r"href=['\"]([^'\"]*)", got.text)
    assert "<img" not in got.text and set(links) <= {"/"}, got.text  # the link back to the demo alone
    assert "[click me](https://evil.example/login)" in got.text  # shown as the text it was
    missing = httpx.get(f"{url}shared/no-such-id", timeout=30)
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == CSP


def test_an_image_over_the_pixel_cap_is_refused_from_its_header(served, tmp_path):
    url, _ = served
    big = tmp_path / "huge.png"
    Image.new("L", (13000, 13000)).save(big)  # 164 KB on disk, 169 MP decoded
    start = time.monotonic()
    said = notice(
        client(url, "10.3.0.2").predict({"text": "what?", "files": [handle_file(str(big))]}, api_name="/respond")
    )
    assert "13000×13000 px is more than this demo decodes (50 megapixels)" in said, said
    assert time.monotonic() - start < 10


def test_a_zip_declaring_too_much_is_refused_before_a_byte_is_written(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("big.png", "w") as member:
        block = bytes(2**20)
        for _ in range(9):
            member.write(block)
    folder = tmp_path / "media"
    folder.mkdir()  # a folder that was there is left as it is: what was written would stay in it
    with pytest.raises(DemoError, match=r"big\.png is over 8 MiB unpacked"):
        unpack_media(bomb, folder, ZipLimits(file_bytes=8 * 2**20))
    assert list(folder.iterdir()) == []  # refused from the central directory: nothing was written
    with pytest.raises(DemoError, match="the media are over 4 MiB unpacked"):
        unpack_media(bomb, folder, ZipLimits(total_bytes=4 * 2**20))
    assert list(folder.iterdir()) == []


def test_what_the_page_and_metrics_show_holds_no_password_or_server_path():
    assert public_url("http://user:secret@gpu-box:8000/v1") == "http://gpu-box:8000/v1"
    side = ModelSpec("BF16", "", backend="remote", endpoint="http://user:secret@gpu-box:8000/v1")
    assert "secret" not in side.title and "gpu-box:8000" in side.title
    labels = _unpath({"model_name": "/home/host/.cache/tiny/fp8", "engine": "0"})
    assert labels == {"model_name": "fp8", "engine": "0"}


def test_a_refused_turn_logs_no_file_name_without_log_prompts(served, tmp_path, caplog):
    url, _ = served
    broken = tmp_path / "secret-plan.png"
    broken.write_bytes(b"not a picture")
    with caplog.at_level(logging.INFO):
        said = notice(
            client(url, "10.3.0.3").predict({"text": "hi", "files": [handle_file(str(broken))]}, api_name="/respond")
        )
    assert "secret-plan.png" in said  # the visitor is told which file
    assert not [r.getMessage() for r in caplog.records if "secret-plan" in r.getMessage()]


def test_gradios_monitoring_route_is_off(served):
    url, _ = served
    got = httpx.get(f"{url}monitoring", timeout=30)
    assert got.status_code in (403, 404), got.status_code
