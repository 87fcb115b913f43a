"""The device check (``bench/device_check.py``) runs on this CPU as it will on a lent GPU, but for
the CUDA calls, and its result says it did not run on a GPU; what it carries (unpacked wheels, a
``spaces`` wheel read without importing it) works; the transformers backend's FP8 path falls back
to dequantized weights, never a crash, when the GPU's row-wise FP8 matmul fails (pytorch#192707).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def in_bench(code: str) -> object:
    """Run ``code`` (which prints JSON) in a fresh interpreter from the repository root: the
    tests never import ``bench`` (bench/common.py), and ``sys.path`` changes stay there."""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal wheel (files + dist-info), as pip download would bring one."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for inner, text in files.items():
            z.writestr(inner, text)
        z.writestr(f"{name}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


@pytest.mark.engine
def test_device_check_on_cpu_runs_everything_but_cuda_and_says_it_did_not_run_on_a_gpu(tmp_path, tiny_dir):
    out = tmp_path / "device.md"
    cmd = [sys.executable, "-m", "bench.device_check", "--tiny-dir", str(tiny_dir), "--bundle", str(tmp_path / "none")]
    run = subprocess.run([*cmd, "--max-tokens", "4", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("**Did not run on a GPU**")
    assert "| 1×128×256 | ran, max error" in text  # the row-wise FP8 call itself, on the CPU
    assert "9B shapes on CUDA | skipped: no CUDA device" in text
    assert "after the load: skipped (no CUDA device)" in text
    for side in ("FP8", "BF16"):
        for turn in ("text", "image", "text via ZeroGPU stand-in"):
            row = next(line for line in text.splitlines() if line.startswith(f"| {side} |") and f"| {turn} |" in line)
            assert "| 4 |" in row, row  # every answer reached its 4 tokens (a decode rate needs 2)
    assert "zerogpu()` leaves the work in process: True" in text
    configs = json.loads((Path(importlib.util.find_spec("spaces").origin).parent / "zero/configs.json").read_text())
    rtx = next(c for c in configs if c["sm_major"] == 12)
    assert f"counted {55.6 * rtx['duration_factor']:.1f} s (duration factor {rtx['duration_factor']}" in text


def test_carried_wheels_are_unpacked_once_and_come_first_on_the_path(tmp_path):
    wheels = tmp_path / "bundle" / "wheels"
    wheels.mkdir(parents=True)
    make_wheel(wheels, "carried_probe", "1.2.3", {"carried_probe/__init__.py": "WHERE = 'carried'\n"})
    bundle = tmp_path / "bundle"
    got = in_bench(
        "import json, sys, importlib.metadata\n"
        "from bench.device_check import use_bundle\n"
        f"names = use_bundle(__import__('pathlib').Path({str(bundle)!r}))\n"
        "import carried_probe\n"
        "print(json.dumps([names, sys.path[0], carried_probe.WHERE, importlib.metadata.version('carried_probe')]))"
    )
    assert got == [["carried_probe-1.2.3-py3-none-any.whl"], str(bundle / "site"), "carried", "1.2.3"]
    marker = bundle / "site" / "carried_probe" / "kept"
    marker.write_text("")
    code = "import json, pathlib\nfrom bench.device_check import use_bundle\n"
    assert in_bench(code + f"print(json.dumps(use_bundle(pathlib.Path({str(bundle)!r}))))") == got[0]
    assert marker.exists()  # the same wheels: nothing unpacked again
    assert in_bench(code + f"print(json.dumps(use_bundle(pathlib.Path({str(tmp_path)!r}))))") == []


def test_zerogpu_gpus_are_read_from_a_carried_spaces_wheel_without_importing_spaces(tmp_path):
    installed = Path(importlib.util.find_spec("spaces").origin).parent / "zero/configs.json"
    make_wheel(tmp_path, "spaces", "0.51.3", {"spaces/zero/configs.json": installed.read_text()})
    got = in_bench(
        "import json, sys, pathlib, importlib.util\n"
        "importlib.util.find_spec = lambda name, *a: None  # spaces not installed\n"
        "from bench.device_check import zerogpu_configs\n"
        f"found = zerogpu_configs(pathlib.Path({str(tmp_path)!r}))\n"
        f"none = zerogpu_configs(pathlib.Path({str(tmp_path / 'empty')!r}))\n"
        "print(json.dumps([found, none, 'spaces' in sys.modules]))"
    )
    assert got[0] == [json.loads(installed.read_text()), "spaces-0.51.3-py3-none-any.whl"]
    assert got[1] == [[], "spaces not installed and no spaces wheel in the bundle"]
    assert got[2] is False  # read, never imported (spaces imports Gradio)


def test_the_row_wise_fp8_matmul_transformers_uses_runs_on_this_cpu_and_a_failure_is_a_sentence():
    import torch

    from inference.engines.hf_load import rowwise_fp8_error

    on_cpu = rowwise_fp8_error("cpu")
    if tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 13):
        assert on_cpu is None  # the CPU set's torch runs it on the CPU
    else:  # ZeroGPU's torch 2.11 (the Python 3.10 tests) has no CPU kernel for it: a sentence, not a crash
        assert on_cpu and on_cpu.startswith("NotImplementedError: ")
    failed = rowwise_fp8_error("meta")  # a device where the call cannot produce numbers
    assert failed and failed.split(":")[0].endswith("Error")


def test_a_gpu_whose_fp8_matmul_fails_loads_the_fp8_checkpoint_dequantized_and_says_why(tiny_dir, monkeypatch):
    import torch

    from inference.engines import hf_load

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (12, 0))  # RTX PRO 6000 (Blackwell)
    cublas = "RuntimeError: CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling cublasLtMatmul"
    monkeypatch.setattr(hf_load, "rowwise_fp8_error", lambda device: cublas)
    options, scheme = hf_load.load_options(str(tiny_dir / "fp8"), "auto", "cuda")
    config = options["quantization_config"]
    assert config.dequantize and not config.use_optimized_inference
    assert scheme == f"{hf_load.SIMULATED} (this GPU's FP8 matmul failed: {cublas})"
    # on ZeroGPU no CUDA call runs at load (spaces reports its GPU table's capability): the rule decides
    monkeypatch.setattr(hf_load, "rowwise_fp8_error", lambda device: pytest.fail("probed on ZeroGPU"))
    untried = hf_load.load_options(str(tiny_dir / "fp8"), "auto", "cuda", probe=False)
    assert untried[1] == f"{hf_load.SIMULATED} ({hf_load.NOT_PROBED})"  # the RTX PRO 6000
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))  # the H200
    h200 = hf_load.load_options(str(tiny_dir / "fp8"), "auto", "cuda", probe=False)
    assert h200[1] == hf_load.W8A8 and h200[0]["quantization_config"].use_optimized_inference
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))  # A100: not even tried
    monkeypatch.setattr(hf_load, "rowwise_fp8_error", lambda device: pytest.fail("probed below SM 8.9"))
    assert hf_load.load_options(str(tiny_dir / "fp8"), "auto", "cuda")[1] == hf_load.SIMULATED


def test_make_device_check_runs_the_script_with_the_carried_bundle_and_the_bundle_is_the_device_set():
    dry = subprocess.run(["make", "-n", "device-check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "python3 -m bench.device_check --bundle .cache/device" in dry.stdout
    bundle = subprocess.run(["make", "-n", "device-bundle"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "-r requirements/device.txt" in bundle.stdout and "--python-version 3.12" in bundle.stdout
    assert "spaces==0.51.3" in bundle.stdout  # the GPU table's wheel, the version the app pins
