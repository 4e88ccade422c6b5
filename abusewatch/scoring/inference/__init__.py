"""Batched inference: a bounded queue, a token-budget batcher and CPU/CUDA backends (issue 3).

    from abusewatch.scoring.inference import EngineSettings, InferenceEngine
    engine = InferenceEngine.from_settings(abusewatch.common.config.load(EngineSettings))
    await engine.start(); probs = await engine.score(texts); await engine.stop()

`InferenceEngine` is imported on first use: it pulls in torch, which `abusewatch config` and other
light commands that only need `EngineSettings` should not pay for.
"""

from __future__ import annotations

from typing import Any

from abusewatch.scoring.inference.queue import NotStarted, Overloaded
from abusewatch.scoring.inference.settings import EngineSettings

__all__ = ["EngineSettings", "InferenceEngine", "NotStarted", "Overloaded"]


def __getattr__(name: str) -> Any:
    if name == "InferenceEngine":
        from abusewatch.scoring.inference.engine import InferenceEngine

        return InferenceEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
