"""Shared fixtures: the tiny checkpoints, test media, and real engines/app servers.

Engines cost seconds to start and are shared per module; each module that needs engines
starts its own pool so that no ``AsyncLLM`` is driven from two event loops.
"""

from __future__ import annotations

import os

from inference.spec import CPU_PROCESS_ENV

# Before torch is imported anywhere in this process (OpenMP reads these once).
os.environ.update(CPU_PROCESS_ENV)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path

import pytest

from tests import media_factory

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / ".cache" / "tiny"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    missing = [d for d in ("bf16", "fp8") if not (TINY / d / "model.safetensors").exists()]
    if missing:
        pytest.fail(f"tiny checkpoints missing in {TINY}: {missing}; run `make tiny` (make test does)")
    return TINY


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "image": media_factory.scene_image(d),
        "video": media_factory.moving_square_video(d),
        "corrupt": media_factory.corrupt_image(d),
    }


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
