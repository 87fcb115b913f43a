"""What every backend does with a model's own tokenizer: render a turn, count it, decode answers.

Contract: a backend mixes in ``PromptViews`` and calls ``load_tokenizer(tokenizer)`` once it has
the model's tokenizer (``AutoTokenizer``, or the one inside ``AutoProcessor``). ``render`` is the
prompt text through the model's chat template, the same string on every backend;
``prompt_tokens`` counts that prompt as an engine will, each image/video placeholder expanded to
its visual tokens; ``check_scorable`` refuses an answer to score that holds placeholders;
``decode`` turns answer token ids into text with special tokens skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.errors import DemoError
from inference.inputs.chat import GenerationSettings, Prepared

VISUAL_TOKENS = ("<|image_pad|>", "<|video_pad|>")  # what each image/video patch group becomes


class PromptViews:
    _tokenizer: Any = None
    _visual_ids: frozenset[int] = frozenset()

    def load_tokenizer(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._visual_ids = frozenset(tokenizer.convert_tokens_to_ids(list(VISUAL_TOKENS)))

    def render(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> str:
        """The prompt text for one side, through the model's own chat template."""
        text: str = self._tokenizer.apply_chat_template(
            prepared.messages(answers, system=settings.system),
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=settings.enable_thinking,
        )
        return text

    def visual_count(self, token_ids: Sequence[int]) -> int:
        """How many of these prompt tokens are image/video placeholders."""
        return sum(1 for t in token_ids if t in self._visual_ids)

    def prompt_tokens(self, prepared: Prepared, answers: Sequence[str], settings: GenerationSettings) -> int:
        """The prompt's length in tokens as the engine will count it: the rendered template, each
        image/video placeholder expanded to its visual tokens."""
        ids = self._tokenizer.encode(self.render(prepared, answers, settings), add_special_tokens=False)
        return len(ids) - self.visual_count(ids) + prepared.visual_tokens

    def check_scorable(self, token_ids: Sequence[int]) -> None:
        """An answer to score must hold no image/video placeholder: each one would stand for
        visual features the prompt's media do not have."""
        if n := self.visual_count(token_ids):
            raise DemoError(f"The answer to score holds {n} image/video placeholder tokens; it cannot be scored.")

    def decode(self, token_ids: Sequence[int]) -> str:
        """Token ids to text, the way vLLM detokenises an answer (special tokens skipped)."""
        if self._tokenizer is None:
            return ""
        return str(self._tokenizer.decode(list(token_ids), skip_special_tokens=True))
