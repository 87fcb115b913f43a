"""One command per machine: `make demo` builds and runs the package set of the machine it is on,
chosen by the app's own probe (``inference.deploy.gpu.has_cuda_gpu``: ``nvidia-smi -L`` lists a GPU), each
set in its own environment on its own Python; ``DEVICE=cpu|cuda`` forces the set; `make test`
runs the CPU suite on any machine.

Dry runs only (``make -n -B``: every rule's commands printed, none run, whatever is built here),
with a stand-in ``nvidia-smi`` first on ``PATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu_set  # the Makefile's targets on this machine: not in the 3.10 stage

ROOT = Path(__file__).resolve().parents[1]
# What the stand-ins print: a GPU box, and a box whose nvidia-smi finds no driver (as it says there).
LISTS_A_GPU = "echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0c4b2d1e-0000-0000-0000-000000000000)'"
NO_DRIVER = 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9'
CUDA_SET = "-r requirements.txt"
CPU_SET = "-r requirements/cpu.txt --override requirements/cpu-overrides.txt"


def nvidia_smi(folder: Path, script: str) -> str:
    """A ``PATH`` whose first ``nvidia-smi`` runs ``script``."""
    exe = folder / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{script}\n")
    exe.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def without_nvidia_smi() -> str:
    """This machine's ``PATH`` less every folder that holds an ``nvidia-smi``."""
    folders = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(f for f in folders if not (Path(f) / "nvidia-smi").exists())


def dry_run(path: str, *args: str) -> str:
    """``make -n -B ARGS`` under ``path``, free of any outer make's flags and variables."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DEVICE"}}
    env["PATH"] = path
    make = shutil.which("make", path=path)
    assert make, "make is not on PATH"
    out = subprocess.run([make, "-n", "-B", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def runs_app_from(commands: str) -> str:
    """The environment the app is started from."""
    (venv,) = re.findall(r"^(\S+)/bin/python app\.py", commands, re.MULTILINE)
    return venv


def python_of(commands: str, venv: str) -> str:
    """The X.Y of the interpreter ``venv`` is made with."""
    (python,) = re.findall(rf"^\S+ venv .*-p (\S+) {re.escape(venv)}$", commands, re.MULTILINE)
    return re.fullmatch(r".*python(3\.\d+)", python).group(1)


def test_make_demo_picks_the_cuda_set_when_nvidia_smi_lists_a_gpu(tmp_path):
    commands = dry_run(nvidia_smi(tmp_path, LISTS_A_GPU), "demo")
    assert runs_app_from(commands) == ".venv-cuda"
    assert ".venv-cuda/bin/python app.py --device cuda" in commands
    assert CUDA_SET in commands and python_of(commands, ".venv-cuda") == "3.12"
    assert "requirements/cpu.txt" not in commands
    assert "inference.checkpoints.tiny" not in commands  # the GPU serves the real pair


@pytest.mark.parametrize("machine", ["no nvidia-smi", "nvidia-smi without a driver"])
def test_make_demo_picks_the_cpu_set_without_a_gpu(machine, tmp_path):
    path = without_nvidia_smi() if machine == "no nvidia-smi" else nvidia_smi(tmp_path, NO_DRIVER)
    commands = dry_run(path, "demo")
    assert runs_app_from(commands) == ".venv"
    assert ".venv/bin/python app.py --device cpu" in commands
    assert CPU_SET in commands and python_of(commands, ".venv") == "3.12"
    assert ".venv-cuda" not in commands and CUDA_SET not in commands
    assert "inference.checkpoints.tiny" in commands and "inference.checkpoints.quantize" in commands  # the tiny pair


def test_device_forces_the_set_whatever_the_machine(tmp_path):
    assert runs_app_from(dry_run(nvidia_smi(tmp_path, LISTS_A_GPU), "demo", "DEVICE=cpu")) == ".venv"
    assert runs_app_from(dry_run(without_nvidia_smi(), "demo", "DEVICE=cuda")) == ".venv-cuda"


def test_make_test_runs_the_cpu_suite_and_never_builds_the_cuda_set_on_a_gpu_machine(tmp_path):
    commands = dry_run(nvidia_smi(tmp_path, LISTS_A_GPU), "test")
    assert re.search(r'^\.venv/bin/python -m pytest -m "engine or browser or cpu_set"$', commands, re.MULTILINE)
    assert CPU_SET in commands and python_of(commands, ".venv") == "3.12"
    assert ".venv-cuda" not in commands and CUDA_SET not in commands


def test_the_suite_starts_the_app_on_cpu_where_nvidia_smi_lists_a_gpu(tmp_path, monkeypatch, tiny_dir):
    import app
    from inference.deploy.gpu import has_cuda_gpu

    monkeypatch.setenv("PATH", nvidia_smi(tmp_path, LISTS_A_GPU))
    assert has_cuda_gpu()
    specs = app.resolve_specs(app.parse_args(["--tiny-dir", str(tiny_dir)]))  # as tests/test_process.py does
    assert [s.model for s in specs] == [str(tiny_dir / "fp8"), str(tiny_dir / "bf16")]


def test_make_test_prepares_in_parallel_then_times_the_machine_alone_then_tests(tmp_path):
    """Lint, the tiny pair and the environments are made three at a time; the machine line (it
    times the engines) starts only after all of them, and the tests after it. Debian's packages,
    made beside each other now, go through apt-get one at a time (dpkg's lock)."""
    commands = dry_run(without_nvidia_smi(), "test").splitlines()
    (parallel,) = [i for i, c in enumerate(commands) if re.match(r"^\S*make .*-j3 .*\blint\b.*\btiny\b", c)]
    machine = commands.index(".venv/bin/python -m bench.fp8_cpu --quick")
    made = re.compile(r"mypy$|inference\.checkpoints\.quantize|axe-core@")
    last_made = max(i for i, c in enumerate(commands) if made.search(c))
    first_test = min(i for i, c in enumerate(commands) if " -m pytest " in c)
    assert parallel < last_made < machine < first_test, (parallel, last_made, machine, first_test)
    apt = [c for c in commands if "apt-get" in c]
    assert apt and all(c.count("apt-get") == c.count("flock /tmp/qwen-demo-apt.lock") for c in apt), apt


def py310_runs(commands: str) -> tuple[str, str]:
    """The 3.10 stage's two pytest lines: the parallel one, then the one for the tests marked alone."""
    parallel, alone = re.findall(r"^\.venv-py310/bin/python -m pytest .*$", commands, re.MULTILINE)
    return parallel, alone


def test_make_test_also_runs_the_engine_free_tests_on_python_3_10(tmp_path):
    commands = dry_run(without_nvidia_smi(), "test")
    parallel, alone = py310_runs(commands)
    assert '-m "not engine and not browser and not alone"' in parallel and "-n 2" in parallel
    assert '-m "alone and not engine and not browser"' in alone and "-n " not in alone  # nothing beside them
    assert "-r requirements/py310-test.txt" in commands and python_of(commands, ".venv-py310") == "3.10"


def test_every_engine_free_test_runs_in_one_stage_of_make_test_at_least(tmp_path):
    """The 3.10 stage runs the engine-free tests but the modules it leaves out; the CPU set's stage
    runs engine, browser and cpu_set tests: a module the 3.10 stage leaves out must be cpu_set, or
    nothing would run it. The tests marked alone run in a second 3.10 run that collects only one
    folder: every module that marks tests alone must be in it."""
    commands = dry_run(without_nvidia_smi(), "test")
    parallel, alone = py310_runs(commands)
    left_out = re.findall(r"--ignore=(\S+)", parallel)
    assert left_out
    for module in left_out:
        assert re.search(r"^pytestmark = .*pytest\.mark\.cpu_set", (ROOT / module).read_text(), re.MULTILINE), module
    (folder,) = re.findall(r" (tests/\S*)$", alone)
    marks = re.compile(r"^(?:pytestmark = .*|\s*@)pytest\.mark\.alone\b", re.MULTILINE)
    marking = [p for p in (ROOT / "tests").rglob("test_*.py") if marks.search(p.read_text())]
    assert marking, "no test is marked alone: the second 3.10 run has nothing to run"
    for module in marking:
        assert (ROOT / folder) in module.parents, f"{module.relative_to(ROOT)} marks tests alone outside {folder}"


def test_an_environment_made_on_another_python_is_made_again_not_mixed(tmp_path):
    """Each environment's stamp needs its bin/pythonX.Y, which only a venv on that Python has;
    making one removes whatever was there first."""
    commands = dry_run(without_nvidia_smi(), "test").splitlines()
    for venv in (".venv", ".venv-quantize", ".venv-py310"):
        made = next(i for i, c in enumerate(commands) if re.search(rf" venv .* {re.escape(venv)}$", c))
        assert commands[made - 1] == f"rm -rf {venv}"


@pytest.mark.parametrize(("machine", "venv"), [("gpu", ".venv-cuda"), ("cpu", ".venv")])
def test_make_gpu_check_runs_the_check_from_the_machines_set(machine, venv, tmp_path):
    path = nvidia_smi(tmp_path, LISTS_A_GPU) if machine == "gpu" else without_nvidia_smi()
    commands = dry_run(path, "gpu-check")
    device = "cuda" if machine == "gpu" else "cpu"
    assert re.search(rf"^{re.escape(venv)}/bin/python -m bench\.gpu_check --device {device}", commands, re.MULTILINE)
    assert ("inference.checkpoints.tiny" in commands) == (machine == "cpu")


def _make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``make ARGS`` here (really run), free of any outer make's flags, with ``env`` added."""
    clean = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DEVICE"}}
    return subprocess.run(["make", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60)


def test_a_tiny_pair_made_before_from_the_same_inputs_is_copied_not_built_again(tmp_path):
    store = Path(_make("--eval=store: ; @echo $(TINY_STORE)", "store", XDG_CACHE_HOME=str(tmp_path)).stdout.strip())
    assert store.parent == tmp_path / "qwen35-fp8-demo" and re.fullmatch(r"tiny-[0-9a-f]{16}", store.name)
    for side in ("bf16", "fp8"):  # what a build never writes: proof that nothing was built
        (store / side).mkdir(parents=True)
        (store / side / "config.json").write_text(f'{{"kept": "{side}"}}')
    done = _make(f"TINY={tmp_path / 'tiny'}", "tiny", XDG_CACHE_HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    for side in ("bf16", "fp8"):
        assert (tmp_path / "tiny" / side / "config.json").read_text() == f'{{"kept": "{side}"}}'
        assert f"tiny {side}: copied from {store}" in done.stdout


def test_the_tiny_pairs_key_changes_with_each_of_its_inputs(tmp_path):
    def key(*inputs: str) -> str:
        given = f"TINY_INPUTS={' '.join(inputs)}"
        return _make(given, "--eval=store: ; @echo $(TINY_STORE)", "store", XDG_CACHE_HOME=str(tmp_path)).stdout

    (tmp_path / "a").write_text("seed 0")
    (tmp_path / "b").write_text("seed 1")
    assert key(str(tmp_path / "a")) != key(str(tmp_path / "b")) and key(str(tmp_path / "a")) == key(str(tmp_path / "a"))
    listed = re.search(r"^TINY_INPUTS := (.*?)(?<!\\)$", (ROOT / "Makefile").read_text(), re.M | re.S)
    assert listed, "the Makefile has no TINY_INPUTS"
    named = set(listed[1].replace("\\\n", " ").split())
    builders = {
        "inference/checkpoints/tiny.py",
        "inference/checkpoints/chat_template.jinja",
        "inference/checkpoints/quantize.py",
    }
    assert builders | {"requirements/cpu.txt", "requirements/quantize.txt", "requirements/cpu-overrides.txt"} <= named
