"""What every figure on the page means, in one plain sentence each, for a reader who is not a specialist.

Contract: ``MEANINGS`` lists (figure, sentence) pairs in the order the page shows the figures;
``glossary()`` is the Markdown of the page's "What these numbers mean" panel. Text only.
"""

from __future__ import annotations

from inference.compare.caveats import FP8_COVERAGE

MEANINGS = (
    ("Verdict", "The page's summary in words: did the quantised model say the same, and what does it save."),
    ("TTFT", "Time to first token: how long you wait before the answer starts to appear."),
    ("tok/s", "Decode rate: how many tokens per second the answer grows once it has started."),
    ("tokens, s", "How long the answer is in tokens (word pieces), and how long it took in all."),
    (
        "race / timed each alone",
        "Race: both models answered at the same time and shared the hardware, so each one's speed includes "
        "waiting for the other. Each alone: one after the other, so each speed is the model's own. Only "
        "speeds timed each alone are compared in the verdict.",
    ),
    (
        "prompt tokens (visual, text)",
        "How much the model read: the pieces your text became, plus the image and video patches.",
    ),
    ("weights", f"How much memory the model's parameters take (and FP8's against BF16's). {FP8_COVERAGE}"),
    (
        "⚠️ speed caveats",
        "Printed next to a speed wherever it appears: a tiny random checkpoint's speed says nothing about the 9B "
        "on a GPU, and an FP8 side whose matmuls run emulated (in BF16) or on a fallback route is not showing "
        "native FP8's speed.",
    ),
    (
        "KV cache, peak use",
        "The model's working memory for this conversation: how many tokens it can hold, and how full it got.",
    ),
    ("first divergence", "The first word piece where the two answers differ; before it they are identical."),
    (
        "identical tokens",
        "The share of word pieces the two answers have in common. Once two answers part, the rest compares "
        "two different texts, so a low share can come from one early difference.",
    ),
    (
        "mean |Δ logprob|",
        "Over the shared start, how differently sure the two models were of the same words (0: equally sure).",
    ),
    (
        "cross-score Δ (heat map)",
        "Each model reads the other's finished answer: Δ is how much less likely BF16 finds each of FP8's words "
        "than FP8 did (in log-probability; 0 means the same model). Red tokens are ones BF16 would not have said "
        "as readily; hover a token to read its Δ. Unlike identical tokens, it does not cascade after one difference.",
    ),
)


def glossary() -> str:
    return "\n".join(f"* **{name}**: {sentence}" for name, sentence in MEANINGS)
