"""The command line's sides: labels, models, server URLs and backends (``app.resolve_specs``)."""

from __future__ import annotations

import pytest

import app


def sides(*argv: str) -> list[tuple[str, str, str, str | None]]:
    return [(s.label, s.model, s.backend, s.endpoint) for s in app.resolve_specs(app.parse_args(list(argv)))]


def test_a_side_given_as_a_url_runs_on_that_server_and_the_other_in_process(tiny_dir):
    got = sides("--device", "cpu", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", "BF16=http://gpu-box:8000/v1/")
    assert got == [("FP8", str(tiny_dir / "fp8"), "vllm", None), ("BF16", "", "remote", "http://gpu-box:8000/v1")]


def test_an_unlabelled_url_is_named_by_its_host(tiny_dir):
    got = sides("--device", "cpu", "--model", "http://10.0.0.5:8001/v1", "--model", str(tiny_dir / "bf16"))
    assert [g[0] for g in got] == ["10.0.0.5:8001", "bf16"]


def test_backend_for_every_side_or_one_label(tiny_dir):
    assert {s[2] for s in sides("--device", "cpu", "--backend", "vllm")} == {"vllm"}
    assert [s[2] for s in sides("--device", "cpu", "--backend", "BF16=vllm")] == ["vllm", "vllm"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "tensorrt"], "--backend tensorrt: unknown"),
        (["--backend", "remote"], "--backend remote: unknown"),  # a server side is given by its URL
        (["--backend", "XL=vllm"], "no side is labelled XL"),
    ],
)
def test_a_wrong_backend_stops_the_app_with_a_message(tiny_dir, argv, message):
    with pytest.raises(SystemExit, match=message):
        sides("--device", "cpu", *argv)


def test_a_url_side_on_a_gpu_is_left_out_of_the_memory_plan(monkeypatch):
    planned = []
    monkeypatch.setattr(app, "plan_gpu_memory", lambda specs: planned.extend(specs) or specs)
    got = sides("--device", "cuda", "--model", "FP8=org/fp8", "--model", "BF16=https://bf16.example/v1")
    assert [s.label for s in planned] == ["FP8"]
    assert [g[2] for g in got] == ["vllm", "remote"]
