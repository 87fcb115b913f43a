"""What importing the app loads, in a real interpreter: a CPU process imports the app and the
library before it sets its OpenMP settings, so none of it may load torch (nor transformers or
vLLM, which load torch); only ``inference.engines.hf_steps`` and ``inference.engines.cpu_fp8`` (vLLM's
plugin, loaded by vLLM) do, and the layout rules
(``tests/test_layout.py``) keep it imported inside functions only. The library loads no Gradio.
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.imports import folder, project_modules

APP = [m for m in project_modules() if m == "app" or m.split(".")[0] in ("inference", "ui")]
LAZY = ("inference.engines.hf_steps", "inference.engines.cpu_fp8")
SERVED = [m for m in APP if folder(m) != "inference.checkpoints" and m not in LAZY]
LIBRARY = [m for m in SERVED if m.startswith("inference")]


def loaded_after_importing(modules: list[str]) -> set[str]:
    code = f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\nprint(*sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_the_app_and_the_library_loads_no_torch():
    assert not loaded_after_importing(SERVED) & {"torch", "transformers", "vllm"}


def test_importing_the_library_loads_no_gradio():
    assert not loaded_after_importing(LIBRARY) & {"gradio", "gradio_client", "ui"}
