"""Where and how much one side's token stream departs from the reference side's.

Contract: ``diverge(reference, other)`` compares two token streams (ids and, where known,
the log-probability each token had) as far as they have arrived. Pure. Figures:

* ``first``: position of the first token that differs (``None`` while one stream is still a
  prefix of the other, and when both are identical);
* ``identical``: share of tokens the two answers have in common, aligned the way ``difflib``
  aligns sequences (so a one-token shift does not count everything after it as different),
  relative to the longer stream; computed once both streams are complete (``None`` before:
  it costs tens of milliseconds on thousands of tokens, too much for every render);
* ``logprob_gap``: mean absolute difference of the two engines' log-probabilities over the
  common prefix, where both chose the same token: how differently sure they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True)
class Divergence:
    compared: int  # tokens in the longer stream
    common: int  # length of the common prefix
    first: int | None
    identical: float | None  # 0..1, once finished
    logprob_gap: float | None


def diverge(
    ref_ids: Sequence[int],
    ids: Sequence[int],
    ref_logprobs: Sequence[float] = (),
    logprobs: Sequence[float] = (),
    *,
    finished: bool = False,
) -> Divergence:
    """``finished``: both streams are complete, so a length difference is a divergence too."""
    shorter = min(len(ref_ids), len(ids))
    common = next((i for i in range(shorter) if ref_ids[i] != ids[i]), shorter)
    first: int | None = common if common < shorter else None
    if first is None and finished and len(ref_ids) != len(ids):
        first = shorter
    longer = max(len(ref_ids), len(ids))
    identical = None
    if finished:
        blocks = SequenceMatcher(None, ref_ids, ids, autojunk=False).get_matching_blocks()
        identical = sum(b.size for b in blocks) / longer if longer else 1.0
    n = min(common, len(ref_logprobs), len(logprobs))
    gap = sum(abs(ref_logprobs[i] - logprobs[i]) for i in range(n)) / n if n else None
    return Divergence(longer, common, first, identical, gap)
