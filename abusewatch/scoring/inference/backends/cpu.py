"""CPU backend: explicit thread count, bf16 autocast where the CPU has native bf16, optional int8,
optionally compiled with torch.compile (inductor)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from abusewatch.scoring.inference.backends.base import answers_finite
from abusewatch.scoring.inference.batching import TokenizedBatch
from abusewatch.scoring.model.scoring import cpu_supports_bf16

log = logging.getLogger(__name__)

CPU_DTYPES = ("fp32", "bf16", "int8")


def linear_weights_in_bf16(network: nn.Module) -> nn.Module:
    """A copy with every Linear layer's weights stored in bf16, the rest (embeddings, layer norms)
    kept fp32. Under bf16 autocast this computes exactly what autocast on the fp32 network does,
    without casting every weight again on every batch."""
    network = copy.deepcopy(network)
    for module in network.modules():
        if isinstance(module, nn.Linear):
            module.to(torch.bfloat16)
    return network


class CpuBackend:
    """The network on CPU at fp32, bf16 autocast (scores match fp32 within 0.01) or int8.

    int8 is PyTorch dynamic quantization of every Linear layer. It changes scores materially
    (docs/benchmarks.md, "int8"), so the calibration and thresholds fitted at fp32 no
    longer hold; use it only with a head calibrated at int8.
    """

    def __init__(
        self,
        network: nn.Module,
        dtype: str,
        threads: int,
        max_batch_tokens: int,
        pad_token_id: int,
        compiled: bool = False,
    ) -> None:
        if dtype not in CPU_DTYPES:
            raise ValueError(f"CPU backend dtype must be one of {CPU_DTYPES}, got {dtype!r}")
        if dtype == "bf16" and not cpu_supports_bf16():
            raise ValueError("dtype bf16 asked but this CPU has no native bf16; use fp32")
        if compiled and dtype == "int8":
            raise ValueError("torch.compile is not supported with int8 dynamic quantization; use fp32 or bf16")
        self.device = "cpu"
        self.dtype = dtype
        self.runtime = f"torch {torch.__version__}" + (" compiled" if compiled else "")
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads
        self._pad_token_id = pad_token_id
        # torch's intra-op thread count is process-wide: everything else using torch in this
        # process (e.g. a reference model) runs with it too.
        torch.set_num_threads(threads)
        network = network.eval()
        if dtype == "int8":
            network = torch.ao.quantization.quantize_dynamic(network, {nn.Linear}, dtype=torch.qint8)
        elif dtype == "bf16":
            network = linear_weights_in_bf16(network)
        if compiled:
            # Inductor fuses the element-wise work around the matmuls (GELU, adds, layer norms and
            # autocast copies, a large share of the eager time at bf16). Dynamic shapes: one graph for every
            # batch size and length, but sizes 0 and 1 are specialised, so one post is its own graph.
            network = torch.compile(network, dynamic=True)
        self._network = network
        self._compiled = compiled

    def health(self) -> bool:
        # Compiled: both graphs (one post, several posts) are built here, at startup, instead of
        # on the first live batches (tens of seconds each).
        pad = self._pad_token_id
        batches = [[[pad] * 4], [[pad] * 4] * 2] if self._compiled else [[[pad]]]
        return answers_finite(self, batches, pad)

    def prepare(self, batch: TokenizedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)

    def predict(self, prepared: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
        # The intra-op thread count can be per calling thread (OpenMP), and predict runs on the
        # engine's model thread, so it is set here rather than trusted from the constructor.
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        input_ids, attention_mask = prepared
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == "bf16"):
            logits = self._network(input_ids, attention_mask)
        return logits.float().numpy()
