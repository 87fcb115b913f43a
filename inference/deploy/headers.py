"""A checkpoint's shape from its safetensors headers and config.json, read without loading weights.

Contract: pure measures of what is already read (``tensor_bytes``, ``kv_bytes_per_token``,
``state_bytes_per_sequence``, ``vision_peak_bytes`` and the config helpers beneath them) and the
readers that fetch it: ``read_header`` (one file's header), ``read_local`` (a folder),
``read_hub`` (the Hub's metadata, no weights downloaded) and ``read_checkpoint`` (whichever of
them has it). Nothing here imports vLLM or torch or reads the environment; the memory plan built
on these figures is ``inference.deploy.memory``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# safetensors dtype names → bytes per element (the format's own list).
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
TORCH_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}

# Tensors in the checkpoint that vLLM does not load: Qwen3.5's multi-token-prediction head is
# dropped unless speculative decoding asks for it (vllm/model_executor/models/qwen3_5.py maps
# the "mtp." prefix to None).
UNLOADED_PREFIXES = ("mtp.",)

# The largest image the processor accepts (Qwen3.5's preprocessor_config "longest_edge", pixels):
# vLLM profiles the vision encoder with it, 65536 patches of 16 × 16 px.
IMAGE_MAX_PIXELS = 16_777_216


# --- from headers and config -------------------------------------------------------------


def tensor_bytes(header: Mapping[str, Any], skip: Sequence[str] = ()) -> int:
    """Bytes of a safetensors header's tensors (dtype × shape), leaving out names starting with ``skip``."""
    total = 0
    for name, info in header.items():
        if name == "__metadata__" or name.startswith(tuple(skip)):
            continue
        total += math.prod(info["shape"]) * DTYPE_BYTES[info["dtype"]]
    return total


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    text: Mapping[str, Any] = config.get("text_config", config)
    return text


def layer_types(config: Mapping[str, Any]) -> list[str]:
    text = text_config(config)
    n = text["num_hidden_layers"]
    if "layer_types" in text:
        return list(text["layer_types"])
    if "full_attention_interval" in text:  # Qwen3.5: every interval-th layer is full attention
        k = text["full_attention_interval"]
        return ["full_attention" if (i + 1) % k == 0 else "linear_attention" for i in range(n)]
    return ["full_attention"] * n


def head_dim(config: Mapping[str, Any]) -> int:
    text = text_config(config)
    return int(text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"])


def kv_bytes_per_token(config: Mapping[str, Any], kv_dtype_bytes: int = 2) -> int:
    """K and V of every full-attention layer; linear-attention layers keep no per-token cache."""
    text = text_config(config)
    kv_heads = text.get("num_key_value_heads", text["num_attention_heads"])
    full = layer_types(config).count("full_attention")
    return int(2 * kv_heads * head_dim(config) * kv_dtype_bytes * full)


def state_bytes_per_sequence(config: Mapping[str, Any]) -> int:
    """Gated DeltaNet state of one sequence, as vLLM shapes it (``gated_delta_net_state_shape``):
    a conv state of (kernel − 1) × conv_dim in the model's dtype and a recurrent state of
    v_heads × v_dim × k_dim in ``mamba_ssm_dtype`` (Qwen3.5's config asks for float32)."""
    text = text_config(config)
    linear = layer_types(config).count("linear_attention")
    if not linear:
        return 0
    nk, nv = text["linear_num_key_heads"], text["linear_num_value_heads"]
    dk, dv = text["linear_key_head_dim"], text["linear_value_head_dim"]
    model_bytes = TORCH_DTYPE_BYTES[text.get("dtype") or config.get("dtype") or "bfloat16"]
    ssm_bytes = TORCH_DTYPE_BYTES[text.get("mamba_ssm_dtype") or text.get("dtype") or "bfloat16"]
    conv = (2 * nk * dk + nv * dv) * (text["linear_conv_kernel_dim"] - 1) * model_bytes
    recurrent = nv * dv * dk * ssm_bytes
    return int(linear * (conv + recurrent))


def vision_peak_bytes(config: Mapping[str, Any], max_pixels: int = IMAGE_MAX_PIXELS) -> int:
    """A rough peak of the vision encoder on the largest image: per patch, one block's live BF16
    activations (qkv, the MLP's hidden layer, the residual and its norm). Attention itself is
    flash/SDPA, linear in the patches."""
    vision = config.get("vision_config")
    if not vision:
        return 0
    patches = max_pixels // vision["patch_size"] ** 2
    width = 3 * vision["hidden_size"] + vision["intermediate_size"] + 2 * vision["hidden_size"]
    return int(patches * width * 2)


# --- readers -----------------------------------------------------------------------------


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's JSON header and its length: 8 bytes little-endian, then the JSON."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length)), length


def read_local(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Headers of a local checkpoint's ``*.safetensors`` files and its config.json."""
    headers = [read_header(p)[0] for p in sorted(folder.glob("*.safetensors"))]
    if not headers:
        raise FileNotFoundError(f"no *.safetensors in {folder}")
    return headers, json.loads((folder / "config.json").read_text())


def read_hub(repo_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The same from the Hub, without downloading weights (HF_TOKEN is read by huggingface_hub)."""
    from huggingface_hub import HfApi, hf_hub_download

    meta = HfApi().get_safetensors_metadata(repo_id)
    headers = [
        {name: {"dtype": t.dtype, "shape": list(t.shape)} for name, t in f.tensors.items()}
        for f in meta.files_metadata.values()
    ]
    return headers, json.loads(Path(hf_hub_download(repo_id, "config.json")).read_text())


def read_checkpoint(model: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A local folder, else the Hub cache, else the Hub."""
    folder = Path(model)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model, local_files_only=True, allow_patterns=["*.json", "*.safetensors"]))
        except Exception:  # not cached: ask the Hub for the headers only
            return read_hub(model)
    return read_local(folder)
