"""Build a tiny, randomly initialised Qwen3.5 checkpoint of the real architecture, offline.

Contract: ``build_tiny(out_dir)`` writes a directory that ``AutoProcessor``,
``AutoModelForImageTextToText`` and vLLM load as ``Qwen3_5ForConditionalGeneration``:
hybrid layers (1 Gated DeltaNet + 1 full attention), Qwen3.5's vision geometry
(patch 16, spatial merge 2, temporal patch 2), a byte-level BPE tokenizer trained here
with Qwen's special tokens and a Qwen-style chat template (``enable_thinking``), and
Qwen3.5's preprocessor settings. Same inputs, same bytes: the seed and corpus are fixed.
Its answers are noise; it exists so the real code paths run without a GPU or a hub.

Run: ``python -m inference.checkpoints.tiny --out .cache/tiny/bf16``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any  # transformers' objects (not followed by the type checker)

SEED = 0
BPE_VOCAB = 1024
# Qwen's special tokens, in the order Qwen's tokenizers list them.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
)
# Qwen3.5's published preprocessor settings (16 px patches, 2x2 merge, 2-frame temporal patches,
# mean/std 0.5); the pixel budgets are those of the real checkpoint's configs.
PATCH, MERGE, TEMPORAL = 16, 2, 2
IMAGE_PIXELS = {"shortest_edge": 65536, "longest_edge": 16777216}
VIDEO_PIXELS = {"shortest_edge": 4096, "longest_edge": 25165824}
MEAN = STD = [0.5, 0.5, 0.5]
TEMPLATE = Path(__file__).with_name("chat_template.jinja")


def _corpus() -> list[str]:
    """A fixed, offline training text: enough English and symbols for a byte-level BPE."""
    prose = (
        "A picture is worth a thousand words. The quick brown fox jumps over the lazy dog. "
        "She sells sea shells by the sea shore. How much wood would a woodchuck chuck? "
        "In the video, a ball rolls from the left to the right while the camera stays still. "
        "The chart shows three bars: ten, twenty and thirty. Answer briefly and precisely."
    )
    words = (
        "the a an image video frame picture photo shows describe what is in this of and to "
        "with on at from by for color red green blue black white cat dog car person tree sky "
        "water road house left right top bottom left-to-right answer question model quantized "
        "FP8 BF16 precision speed memory token patch grid second minute hello thanks please "
    ).split()
    lines = [prose, " ".join(words), " ".join(reversed(words))]
    lines += [f"{i} + {i + 1} = {2 * i + 1}." for i in range(200)]
    lines += ["".join(chr(c) for c in range(32, 127))]
    return lines * 4


def build_tokenizer() -> Any:
    """Train a byte-level BPE with Qwen3.5's pre-tokenizer and wrap it in Qwen3.5's class."""
    from tokenizers import Tokenizer, models, trainers
    from transformers.models.qwen3_5.tokenization_qwen3_5 import Qwen3_5Tokenizer

    template = Qwen3_5Tokenizer()  # carries the real normaliser, pre-tokenizer and decoder
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = template._tokenizer.normalizer
    bpe.pre_tokenizer = template._tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        special_tokens=[SPECIAL_TOKENS[0]],
        initial_alphabet=__import__("tokenizers").pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tok = Qwen3_5Tokenizer(
        vocab=state["vocab"],
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:-2])})
    tok.add_tokens(list(SPECIAL_TOKENS[-2:]))  # as in Qwen's tokenizers, <think> is not special
    tok.chat_template = TEMPLATE.read_text()
    return tok


def build_config(tok: Any) -> Any:
    """Qwen3.5's configuration at toy size; head dims 64 as vLLM's CPU Gated DeltaNet needs."""
    from transformers import Qwen3_5Config

    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = -(-len(tok) // 64) * 64
    text = {
        "vocab_size": vocab,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,  # 1 linear attention + 1 full attention (interval 2)
        "layer_types": ["linear_attention", "full_attention"],
        "full_attention_interval": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "linear_key_head_dim": 64,
        "linear_value_head_dim": 64,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10_000_000,
            "partial_rotary_factor": 0.25,
            "mrope_section": [3, 3, 2],
            "mrope_interleaved": True,
        },
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "dtype": "bfloat16",
    }
    vision = {
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
        "out_hidden_size": 128,
        "num_position_embeddings": 2304,
    }
    return Qwen3_5Config(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        architectures=["Qwen3_5ForConditionalGeneration"],
        dtype="bfloat16",
    )


def build_processor(tok: Any) -> Any:
    """Qwen3.5's processor: Qwen2-VL image processor and Qwen3-VL video processor, real settings."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    common = dict(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=TEMPORAL)
    image = Qwen2VLImageProcessor(size=IMAGE_PIXELS, image_mean=MEAN, image_std=STD, **common)
    video = Qwen3VLVideoProcessor(
        size=VIDEO_PIXELS, image_mean=MEAN, image_std=STD, fps=2, min_frames=4, max_frames=768, **common
    )
    return Qwen3VLProcessor(
        image_processor=image, video_processor=video, tokenizer=tok, chat_template=tok.chat_template
    )


def build_tiny(out_dir: Path) -> Path:
    """Write the tiny BF16 checkpoint (weights, config, tokenizer, processor) to ``out_dir``."""
    import torch
    from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

    out_dir = Path(out_dir)
    tok = build_tokenizer()
    config = build_config(tok)
    torch.manual_seed(SEED)
    model = Qwen3_5ForConditionalGeneration(config).to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tok.pad_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    build_processor(tok).save_pretrained(out_dir)
    (out_dir / "TINY").write_text("Randomly initialised tiny Qwen3.5: its answers are noise.\n")
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    print(build_tiny(parser.parse_args().out))


if __name__ == "__main__":
    main()
