"""CPU backend on ONNX Runtime: the same fp32 network, exported at startup, with ORT's graph
optimisations (fused bias+GELU and skip+layer-norm kernels, constant folding).

On CPUs without native bf16 (AVX2 only) the engine runs fp32, and there ORT gave 1.26-1.29x
PyTorch eager's throughput and a seventh of its median latency, with scores equal to 1e-6
(docs/benchmarks.md). The export happens in memory
from the loaded network each start (a few seconds), so no second copy of the weights ships or
can drift from the safetensors.
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch
from torch import nn

from abusewatch.scoring.inference.backends.base import answers_finite
from abusewatch.scoring.inference.batching import TokenizedBatch

ONNX_OPSET = 17


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(network: nn.Module, pad_token_id: int) -> bytes:
    """The network as an ONNX model (fp32; batch and sequence axes dynamic)."""
    network = copy.deepcopy(network).float().eval()
    sample = torch.full((2, 8), pad_token_id, dtype=torch.int64)
    # A padded row, so branches that look at the mask while tracing take the general (padded) path.
    mask = torch.ones_like(sample)
    mask[1, 4:] = 0
    buffer = io.BytesIO()
    # The tracer warns about Python-level shape checks in transformers' masking code; they are
    # constant for this encoder, and the integration test holds the export to the eager model's
    # scores (1e-4) on padded batches of mixed lengths.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (sample, mask),
            buffer,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "posts", 1: "tokens"}, "attention_mask": {0: "posts", 1: "tokens"},
                          "logits": {0: "posts"}},
            opset_version=ONNX_OPSET,
            dynamo=False,  # the TorchScript exporter handles this encoder without extra dependencies
        )
    return buffer.getvalue()


class OnnxCpuBackend:
    """fp32 on ONNX Runtime's CPU execution provider, intra-op threads set explicitly."""

    def __init__(self, network: nn.Module, threads: int, max_batch_tokens: int, pad_token_id: int) -> None:
        import onnxruntime

        self.device = "cpu"
        self.dtype = "fp32"
        self.runtime = f"onnxruntime {onnxruntime.__version__}"
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads
        self._pad_token_id = pad_token_id
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads spin by default; on a small machine that steals the cores the tokenizer,
        # the event loop and the stream client need between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            export_onnx(network, pad_token_id), options, providers=["CPUExecutionProvider"]
        )

    def health(self) -> bool:
        return answers_finite(self, [[[self._pad_token_id]]], self._pad_token_id)

    def prepare(self, batch: TokenizedBatch) -> dict[str, np.ndarray]:
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}

    def predict(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        # ORT releases the GIL while it computes, like torch, so the batcher thread keeps preparing.
        (logits,) = self._session.run(["logits"], prepared)
        return np.asarray(logits, dtype=np.float32)
