"""Pure batch planning: cut a window of queued posts into batches under a padded-token budget.

A batch costs `posts x longest post` tokens because every row is padded to the longest one, so the
planner sorts the window by length first: neighbours have similar lengths and little padding.
Nothing here knows about asyncio, threads or torch, so it is unit-tested directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> list[list[int]]: ...


class BatchLimits(Protocol):
    max_batch_tokens: int
    max_batch_posts: int


def padded_tokens(lengths: Sequence[int]) -> int:
    """Tokens a batch of these lengths occupies once padded to its longest row."""
    return len(lengths) * max(lengths) if lengths else 0


def padding_efficiency(lengths: Sequence[int]) -> float:
    """Share of the padded batch that is real tokens (1.0 = no padding)."""
    total = padded_tokens(lengths)
    return sum(lengths) / total if total else 1.0


def plan_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_posts: int) -> list[list[int]]:
    """Indices into `lengths`, grouped into batches, every post exactly once.

    Posts are taken shortest first; a batch closes when adding the next post would push its padded
    size past `max_batch_tokens` or its count past `max_batch_posts`. A single post longer than the
    budget still forms a batch of its own (it cannot be split), so nothing is ever dropped.
    """
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending, so the post being added is the longest of the would-be batch.
        would_cost = (len(current) + 1) * lengths[index]
        if current and (would_cost > max_batch_tokens or len(current) >= max_batch_posts):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class TokenizedBatch:
    """Padded model inputs for one batch (int64, shape [posts, longest post])."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def lengths(self) -> list[int]:
        return self.attention_mask.sum(axis=1).tolist()


def collate(token_ids: Sequence[Sequence[int]], pad_token_id: int) -> TokenizedBatch:
    """Pad token id sequences to the longest one, with the attention mask that marks real tokens."""
    longest = max(len(ids) for ids in token_ids)
    input_ids = np.full((len(token_ids), longest), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(token_ids), longest), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return TokenizedBatch(input_ids=input_ids, attention_mask=attention_mask)


def token_batches(
    tokenizer: Encoder, texts: Sequence[str], settings: BatchLimits
) -> list[tuple[list[int], list[list[int]]]]:
    """(row indices into `texts`, their token ids) per batch: how the engine cuts a window, and
    how offline scoring (abusewatch.scoring.inference.direct) cuts everything it is given."""
    token_ids = tokenizer.encode(texts)
    lengths = [len(ids) for ids in token_ids]
    return [
        (rows, [token_ids[row] for row in rows])
        for rows in plan_batches(lengths, settings.max_batch_tokens, settings.max_batch_posts)
    ]
