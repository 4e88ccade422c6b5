"""Tokenization for the engine: token ids per post, truncated to the model's maximum length."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PostTokenizer:
    """Wraps the artifact's tokenizer (which applies its text normalisation first); padding is left to the
    batcher, which knows the batch."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_token_id: int = tokenizer.pad_token_id

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self._tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False, return_attention_mask=False
        )
        return encoded["input_ids"]
