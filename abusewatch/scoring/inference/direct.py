"""Scoring without the queue, for callers that hold all their texts at once (training-time
calibration, `abusewatch eval`, tests): the engine's own stages (its tokenizer, the token-budget
batch plan, collate, the backend `select_backend` picks) run in order on the calling thread. The
engine runs the same stages concurrently behind its queue, so figures measured offline describe
the path that serves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from abusewatch.common import config
from abusewatch.scoring.inference.backends import Backend, select_backend
from abusewatch.scoring.inference.batching import collate, token_batches
from abusewatch.scoring.inference.settings import EngineSettings
from abusewatch.scoring.inference.tokenization import PostTokenizer


def backend_logits(backend: Backend, tokenizer: PostTokenizer, texts: Sequence[str], settings: EngineSettings,
                   progress: bool = False) -> np.ndarray:
    """Raw logits [len(texts), labels] as float32, in the order of `texts`."""
    batches = token_batches(tokenizer, texts, settings)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch", mininterval=5)
    logits: np.ndarray | None = None
    for rows, token_ids in batches:
        batch_logits = backend.predict(backend.prepare(collate(token_ids, tokenizer.pad_token_id)))
        if logits is None:
            logits = np.zeros((len(texts), batch_logits.shape[1]), dtype=np.float32)
        logits[rows] = batch_logits
    return logits if logits is not None else np.zeros((0, 0), dtype=np.float32)


def network_logits(network: nn.Module, hf_tokenizer: Any, max_length: int, texts: Sequence[str],
                   settings: EngineSettings | None = None, progress: bool = False) -> np.ndarray:
    """`backend_logits` for a network and its tokenizer (a model artifact's, or one being trained),
    on the backend the engine settings (ABUSEWATCH_DEVICE, _DTYPE, ...) select."""
    settings = settings or config.load(EngineSettings)
    tokenizer = PostTokenizer(hf_tokenizer, max_length)
    backend = select_backend(settings, network, tokenizer.pad_token_id)
    was_training = network.training
    try:
        return backend_logits(backend, tokenizer, texts, settings, progress)
    finally:
        network.train(was_training)
