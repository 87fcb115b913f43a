"""Which parts of a checkpoint are FP8, the bytes one decode step reads, and the speed-up that allows.

Contract: ``quant_map(headers, config)`` takes a checkpoint's safetensors headers and config.json
(``inference.deploy.headers``: the JSON headers are read directly, no weights and no torch) and
returns a plain ``dict``: per group of modules (``GROUPS``: the language model's MLPs, full
attention, Gated DeltaNet, embeddings, ``lm_head``, norms and the rest, the vision tower) the
parameters, how many of them are stored in each dtype and the bytes, and ``decode_step_bytes``:
what one batch-1 decode step must read from memory: every language-model weight once (FP8
weights with their scales), the embedding table only one row (unless it is tied to
``lm_head``, then once whole), the vision tower and the multi-token-prediction head not at all,
plus the Gated DeltaNet state of one sequence (``state_bytes_per_sequence``, the same on both
sides). The KV cache grows with the context and is left out: the figures hold for short contexts.
``ceiling(maps)`` is the ideal batch-1 decode speed-up of each side over the reference when
decoding is bound by memory bandwidth: the reference's bytes per step ÷ the side's.
``read_map(model)`` reads a local folder, or the Hugging Face cache only (never the network);
``None`` when the checkpoint is not on this machine. Pure apart from ``read_map``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inference.deploy.headers import DTYPE_BYTES, UNLOADED_PREFIXES, read_local, state_bytes_per_sequence, text_config

# (group, test on a tensor name): the first that matches names the group
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vision tower", ("visual.",)),
    ("lm_head", ("lm_head.",)),
    ("embeddings", ("embed_tokens.",)),
    ("Gated DeltaNet (linear attention)", (".linear_attn.",)),
    ("full attention", (".self_attn.",)),
    ("MLP", (".mlp.",)),
    ("norms and the rest", ("",)),
)
SCALE_SUFFIXES = ("_scale", "_zero_point", "_global_scale")  # quantisation metadata beside a weight


def group_of(name: str) -> str:
    return next(g for g, keys in GROUPS if any(k in name for k in keys))


def _bare(name: str) -> str:
    """The name without the language model's prefixes, for matching."""
    return name.removeprefix("model.").removeprefix("language_model.").removeprefix("model.")


def quant_map(headers: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    tied = bool(config.get("tie_word_embeddings") or text_config(config).get("tie_word_embeddings"))
    hidden = text_config(config).get("hidden_size", 0)
    groups: dict[str, dict[str, Any]] = {g: {"params": 0, "bytes": 0, "dtypes": {}} for g, _ in GROUPS}
    step = 0
    for header in headers:
        for name, info in header.items():
            if name == "__metadata__" or _bare(name).startswith(UNLOADED_PREFIXES) or name.startswith("mtp."):
                continue
            group = group_of(name)
            numel, size = math.prod(info["shape"]), DTYPE_BYTES[info["dtype"]]
            g = groups[group]
            g["bytes"] += numel * size
            if not name.endswith(SCALE_SUFFIXES):
                g["params"] += numel
                g["dtypes"][info["dtype"]] = g["dtypes"].get(info["dtype"], 0) + numel
            if group == "vision tower":
                continue
            if group == "embeddings" and not tied:
                step += (hidden or info["shape"][-1]) * size  # one row per new token
            else:
                step += numel * size
    state = state_bytes_per_sequence(config) if "num_hidden_layers" in text_config(config) else 0
    rows = []
    for name, g in groups.items():
        if not g["params"]:
            continue
        fp8 = sum(n for d, n in g["dtypes"].items() if d.startswith("F8"))
        rows.append({"group": name, "params": g["params"], "fp8_share": fp8 / g["params"], "bytes": g["bytes"]})
        rows[-1]["dtypes"] = dict(sorted(g["dtypes"].items()))
    lm = [r for r in rows if r["group"] != "vision tower"]
    lm_params = sum(r["params"] for r in lm)
    return {
        "groups": rows,
        "fp8_share_of_language_model": sum(r["params"] * r["fp8_share"] for r in lm) / lm_params if lm_params else 0,
        "weight_bytes": sum(r["bytes"] for r in rows),
        "state_bytes": state,
        "decode_step_bytes": step + state,
        "tied_embeddings": tied,
    }


def ceiling(maps: Sequence[dict[str, Any] | None], reference: int) -> list[float | None]:
    """Per side, the ideal batch-1 decode speed-up over the reference (bytes per step, reference ÷ side)."""
    ref = maps[reference]
    return [
        ref["decode_step_bytes"] / m["decode_step_bytes"] if m and ref and m["decode_step_bytes"] else None
        for m in maps
    ]


def read_map(model: str) -> dict[str, Any] | None:
    """``quant_map`` of a local checkpoint folder, or of one in the Hugging Face cache; ``None`` otherwise."""
    folder = Path(model)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model, local_files_only=True, allow_patterns=["*.json", "*.safetensors"]))
        except Exception:  # not cached here (or no huggingface_hub): no map, and no download
            return None
    try:
        return quant_map(*read_local(folder))
    except (OSError, ValueError, KeyError):
        return None
