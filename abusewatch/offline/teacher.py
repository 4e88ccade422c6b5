"""The shipped transformer's calibrated scores of training and dev texts, cached on disk: the
teacher the cascade's first pass (`abusewatch train-first-pass`) and a distilled student
(`abusewatch train --distill-from`) learn from."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "var" / "first-pass"


def teacher_scores(artifact: Any, texts: list[str], cache_dir: Path, tag: str) -> np.ndarray:
    """The transformer's calibrated scores [N, L] for `texts`, cached by model version and texts."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"{tag}-{artifact.name}-{artifact.version}-{digest}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    from prometheus_client import CollectorRegistry

    from abusewatch.common.config import load
    from abusewatch.scoring.inference.engine import InferenceEngine
    from abusewatch.scoring.inference.settings import EngineSettings

    engine = InferenceEngine.from_artifact(artifact, load(EngineSettings, cascade=False), CollectorRegistry())
    started = time.perf_counter()
    results = engine.score_blocking(texts)
    log.info("teacher scored %d %s texts in %.0f s", len(texts), tag, time.perf_counter() - started)
    scores = np.array([[result[label] for label in artifact.labels] for result in results], dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, scores)
    return scores
