"""The backend interface: what the engine needs from a runtime (after TEI's `backends/core`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from abusewatch.scoring.inference.batching import TokenizedBatch, collate


class Backend(Protocol):
    """Runs the classifier network on one batch. `prepare` and `predict` are called from two
    different worker threads, so the engine can prepare the next batch while one is on the model."""

    device: str  # "cpu" or "cuda:0", as reported in logs and metrics
    dtype: str  # the precision actually used: fp32, bf16, fp16 or int8
    runtime: str  # what executes the network, with its version ("torch 2.13.0", "onnxruntime 1.31.1")
    max_batch_tokens: int

    def health(self) -> bool:
        """Run a tiny forward pass; True when the model answers with finite logits."""
        ...

    def prepare(self, batch: TokenizedBatch) -> Any:
        """Turn padded numpy inputs into whatever `predict` consumes (tensors, on device)."""
        ...

    def predict(self, prepared: Any) -> np.ndarray:
        """Logits, float32 numpy [posts, labels]."""
        ...


def answers_finite(backend: Backend, batches: Sequence[list[list[int]]], pad_token_id: int) -> bool:
    """Run each batch of token rows through the backend: True when every logit is finite (the
    backends' health checks, which also warm them up)."""
    return all(
        bool(np.isfinite(backend.predict(backend.prepare(collate(rows, pad_token_id)))).all()) for rows in batches
    )
