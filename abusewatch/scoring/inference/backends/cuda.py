"""CUDA backend: fp16/bf16 autocast, pinned host memory, host-to-device copies on a side stream.

UNTESTED ON GPU HARDWARE (no GPU was available when it was written; see docs/benchmarks.md).
CUDA graphs and torch.compile are not used: batch shapes change with every batch (posts x longest
post), so graphs would need shape bucketing and compile would recompile; a 22M-parameter encoder is
launch-bound, which bucketed graphs would help, to be measured on hardware first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from abusewatch.scoring.inference.backends.base import answers_finite
from abusewatch.scoring.inference.batching import TokenizedBatch

CUDA_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class CudaBatch:
    """Inputs already copied (asynchronously) to the GPU, and the event marking the copy's end."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    copied: torch.cuda.Event


class CudaBackend:
    """The network on one GPU; `prepare` (batcher thread) overlaps copies with `predict` (model thread)."""

    def __init__(self, network: nn.Module, dtype: str, max_batch_tokens: int, pad_token_id: int) -> None:
        if dtype not in CUDA_DTYPES:
            raise ValueError(f"CUDA backend dtype must be one of {tuple(CUDA_DTYPES)}, got {dtype!r}")
        self._device = torch.device("cuda", torch.cuda.current_device())
        self.device = str(self._device)
        self.dtype = dtype
        self.runtime = f"torch {torch.__version__}"
        self.max_batch_tokens = max_batch_tokens
        self._pad_token_id = pad_token_id
        self._autocast_dtype = CUDA_DTYPES[dtype]
        # Weights stay fp32 and autocast picks the precision per op, so softmax and layer norm keep
        # fp32 accuracy; the encoder is small enough that fp32 weights cost no speed that matters.
        # A copy goes to the GPU so the caller's (CPU) network stays usable, e.g. for a reference.
        self._network = copy.deepcopy(network).eval().to(self._device)
        self._copy_stream = torch.cuda.Stream(self._device)

    def health(self) -> bool:
        return answers_finite(self, [[[self._pad_token_id]]], self._pad_token_id)

    def prepare(self, batch: TokenizedBatch) -> CudaBatch:
        # Pinned host memory lets the copy run asynchronously while the previous batch computes.
        input_ids = torch.from_numpy(batch.input_ids).pin_memory()
        attention_mask = torch.from_numpy(batch.attention_mask).pin_memory()
        with torch.cuda.stream(self._copy_stream):
            on_device = CudaBatch(
                input_ids=input_ids.to(self._device, non_blocking=True),
                attention_mask=attention_mask.to(self._device, non_blocking=True),
                copied=torch.cuda.Event(),
            )
            on_device.copied.record(self._copy_stream)
        return on_device

    def predict(self, prepared: CudaBatch) -> np.ndarray:
        compute_stream = torch.cuda.current_stream(self._device)
        compute_stream.wait_event(prepared.copied)
        # The inputs were allocated on the copy stream; tell the caching allocator they are used on
        # the compute stream too so their memory is not reused before this batch finishes.
        prepared.input_ids.record_stream(compute_stream)
        prepared.attention_mask.record_stream(compute_stream)
        enabled = self._autocast_dtype != torch.float32
        with torch.inference_mode(), torch.autocast("cuda", dtype=self._autocast_dtype, enabled=enabled):
            logits = self._network(prepared.input_ids, prepared.attention_mask)
        return logits.float().cpu().numpy()
