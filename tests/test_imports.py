"""Modules a CPU process imports before it sets its OpenMP settings must not load torch."""

from __future__ import annotations

import subprocess
import sys

FRONT = ["spec", "inputs.chat", "inputs.vision", "compare.transcript", "compare.export"]


def test_inference_front_modules_do_not_import_torch():
    code = f"import sys, {', '.join('inference.' + m for m in FRONT)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
