"""What a side's speed figures do not say, next to them wherever they appear (pane, plot, reveal, export, share).

Contract: ``speed_caveat(spec, footprint)`` is ``""`` when a side's figures are its model's own speed
on this hardware, else one sentence: the FP8 side's matmuls run emulated (in BF16) or on a fallback
route instead of native FP8 (``footprint.emulated``, with ``footprint.kernel`` named where known),
and/or the side is a tiny random checkpoint (``spec.tiny``), whose speed says nothing about the 9B.
``speed_tag`` is the same in a few words, for a plot's legend. ``FP8_COVERAGE`` says which part of
the model FP8 covers. Pure; a footprint without ``emulated``/``kernel`` (older engines) counts as native.
"""

from __future__ import annotations

from typing import Any

TINY = "tiny random checkpoint on this machine: its speed says nothing about the 9B on a GPU"
FP8_COVERAGE = (
    "FP8 stores the weights of the layers it quantises (the MLPs and the full-attention projections) in one "
    "byte instead of BF16's two, plus a scale per output channel; the rest stays BF16: on the 9B the "
    "embeddings and lm_head, the vision tower and the Gated DeltaNet (linear-attention) projections. On the "
    "tiny pair those unquantised parts are most of the bytes, so its FP8 checkpoint is ~0.8× BF16, not 0.5×."
)


def emulated(footprint: Any) -> bool:
    return bool(getattr(footprint, "emulated", False))


def speed_caveat(spec: Any, footprint: Any) -> str:
    parts = []
    if emulated(footprint):
        kernel = getattr(footprint, "kernel", None)
        via = f" ({kernel})" if kernel else ""
        parts.append(f"FP8 emulated here{via}: its matmuls do not run as native FP8, so this is not FP8's speed")
    if getattr(spec, "tiny", False):
        parts.append(TINY)
    return "; ".join(parts)


def speed_tag(spec: Any, footprint: Any) -> str:
    """A few words for a legend: ``"emulated FP8, tiny pair"``, or ``""``."""
    tags = (["emulated FP8"] if emulated(footprint) else []) + (["tiny pair"] if getattr(spec, "tiny", False) else [])
    return ", ".join(tags)
