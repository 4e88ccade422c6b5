"""What the inference benchmarks share: the naive baseline, a timed contender, the machine and command."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class NaiveScorer:
    """The baseline: the plain fp32 network, one post at a time (tokenize, forward, calibrate)."""

    def __init__(self, artifact: Any) -> None:
        self._artifact = artifact

    def score(self, texts: list[str]) -> np.ndarray:
        import torch

        rows = []
        with torch.inference_mode():
            for text in texts:
                encoded = self._artifact.tokenizer(
                    text, truncation=True, max_length=self._artifact.max_length, return_tensors="pt"
                )
                logits = self._artifact.network(encoded["input_ids"], encoded["attention_mask"])
                rows.append(self._artifact.calibration.probabilities(logits.numpy())[0])
        return np.stack(rows)


def as_matrix(results: list[dict[str, float]], labels: tuple[str, ...]) -> np.ndarray:
    return np.array([[result[label] for label in labels] for result in results])


@dataclass
class Contender:
    """One thing being measured: the naive scorer or an engine variant, and what it measured."""

    name: str
    score: Any  # async (texts) -> results
    rates: list[float] = field(default_factory=list)
    results: Any = None
    peak_rss_mib: float = float("nan")
    added_rss_mib: float = float("nan")
    registry: Any = None  # an engine's metrics


async def timed_run(contender: Contender, texts: list[str]) -> None:
    started = time.perf_counter()
    contender.results = await contender.score(texts)
    contender.rates.append(len(texts) / (time.perf_counter() - started))


def machine_description() -> str:
    import torch

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores, torch {torch.__version__}"


def command_line() -> str:
    return "abusewatch bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "abusewatch bench"
