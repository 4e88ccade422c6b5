"""The pure batch planner: token budget, post cap, every post exactly once, less padding when sorted."""

from __future__ import annotations

import random

import numpy as np
import pytest

from abusewatch.scoring.inference.batching import collate, padded_tokens, padding_efficiency, plan_batches


def random_lengths(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(3, 64) for _ in range(count)]


@pytest.mark.parametrize("budget,max_posts", [(256, 64), (1024, 16), (2048, 64)])
def test_batches_respect_token_budget_and_post_cap(budget: int, max_posts: int) -> None:
    lengths = random_lengths(500, seed=budget)
    batches = plan_batches(lengths, budget, max_posts)
    for batch in batches:
        assert len(batch) <= max_posts
        assert padded_tokens([lengths[i] for i in batch]) <= budget
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))


def test_post_longer_than_budget_runs_alone_and_is_not_dropped() -> None:
    batches = plan_batches([10, 500, 12], max_batch_tokens=64, max_batch_posts=8)
    assert [1] in batches
    assert sorted(i for batch in batches for i in batch) == [0, 1, 2]


def test_sorting_by_length_cuts_padding() -> None:
    lengths = random_lengths(512, seed=7)
    budget, max_posts = 2048, 64
    sorted_batches = plan_batches(lengths, budget, max_posts)
    sorted_efficiency = np.mean([padding_efficiency([lengths[i] for i in b]) for b in sorted_batches])
    # Arrival order with the same post count per batch, as a batcher without sorting would cut it.
    size = len(lengths) // len(sorted_batches)
    arrival = [lengths[start : start + size] for start in range(0, len(lengths), size)]
    arrival_efficiency = np.mean([padding_efficiency(batch) for batch in arrival])
    assert sorted_efficiency > 0.85
    assert sorted_efficiency > arrival_efficiency + 0.2


def test_collate_pads_and_masks() -> None:
    batch = collate([[5, 6, 7], [8]], pad_token_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.lengths == [3, 1]
