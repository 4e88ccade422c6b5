"""Torch helpers for the training loop and the CPU backend: device choice, bf16 autocast where it pays,
tokenizing and padding. Scoring (inference) goes through abusewatch.scoring.inference only."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def cpu_supports_bf16() -> bool:
    """Native bf16 matmuls (AVX-512 BF16 / AMX); without them bf16 autocast is slower than fp32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_pays(device: torch.device) -> bool:
    """Whether bf16 autocast speeds this device up: CUDA, or a CPU with native bf16. On an AVX2-only
    CPU it is emulated, and several times slower than fp32."""
    return device.type != "cpu" or cpu_supports_bf16()


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast (outputs match fp32 closely) where it pays; fp32 elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and bf16_pays(device))


def encode(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to max_length, unpadded."""
    return tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]


def pad_batch(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask
