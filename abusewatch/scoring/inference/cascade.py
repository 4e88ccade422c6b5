"""The cascade's first pass: a cheap linear model decides which posts need the transformer.

The first-pass model (models/abusewatch-first-pass, trained by `abusewatch train-first-pass`) is a
hashed word + character n-gram logistic regression, one output per label, trained to predict what
the transformer flags. A post skips the transformer only when every label's first-pass probability
is below that label's skip threshold (tuned on the dev splits so that almost no post the
transformer would flag skips, `abusewatch bench --tune-cascade`) and neither text rule layer (threats,
personal data) finds anything in it; its scores are then the first-pass probabilities, each below
its label's skip threshold and so below every operating point the thresholds were tuned under.

The artefact is plain data, loaded without unpickling: `first_pass.json` (the feature extractors'
parameters, labels, skip thresholds, provenance) and `weights.npz` (coefficients and intercepts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abusewatch.common.resources import require, shipped_root
from abusewatch.scoring.doxxing import detect_personal_data
from abusewatch.scoring.extortion import detect_extortion
from abusewatch.scoring.threats import detect_threat

FORMAT_VERSION = 1
SHIPPED_FIRST_PASS = Path("models") / "abusewatch-first-pass"
CONFIG_FILE = "first_pass.json"
WEIGHTS_FILE = "weights.npz"
# HashingVectorizer options every extractor shares; the artefact names only analyzer, n-gram range and width.
HASHING_OPTIONS: dict[str, Any] = {"lowercase": True, "alternate_sign": False, "binary": True, "norm": "l2"}


def hashing_vectorizers(features: Sequence[dict[str, Any]]) -> list[Any]:
    """The stateless feature extractors an artefact's `features` describe (the trainer uses them too)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return [
        HashingVectorizer(
            analyzer=spec["analyzer"],
            ngram_range=tuple(spec["ngram_range"]),
            n_features=int(spec["n_features"]),
            dtype=np.float32,
            **HASHING_OPTIONS,
        )
        for spec in features
    ]


def featurize(vectorizers: Sequence[Any], texts: Sequence[str]) -> Any:
    """Sparse features [N, sum of widths]: each extractor's block side by side."""
    from scipy.sparse import hstack

    return hstack([vectorizer.transform(texts) for vectorizer in vectorizers], format="csr")


def rule_layers_find_something(text: str) -> bool:
    """Whether a text rule layer (threat structure, extortion, personal data) finds anything in the
    post. Targets are not known here, so this is broader than what the classifier reports."""
    return detect_threat(text).detected or detect_extortion(text).detected or detect_personal_data(text).detected


@dataclass(frozen=True)
class CascadeDecision:
    """For a window of posts: per-label first-pass probabilities [N, L], and which need the transformer."""

    probabilities: np.ndarray
    needs_transformer: np.ndarray


class FirstPass:
    """The first-pass model of an artefact directory, with its per-label skip thresholds."""

    def __init__(self, directory: str | Path = "", *, skip_below: dict[str, float] | None = None) -> None:
        directory = Path(directory) if str(directory) else shipped_root() / SHIPPED_FIRST_PASS
        config_path = require(directory / CONFIG_FILE, "ABUSEWATCH_CASCADE_DIR", "cascade first-pass model")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{config_path}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}")
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights:
            self._coef = weights["coef"].astype(np.float32)
            self._intercept = weights["intercept"].astype(np.float32)
        self.labels: tuple[str, ...] = tuple(config["labels"])
        self._vectorizers = hashing_vectorizers(config["features"])
        width = sum(int(spec["n_features"]) for spec in config["features"])
        if self._coef.shape != (width, len(self.labels)) or self._intercept.shape != (len(self.labels),):
            raise ValueError(f"{directory / WEIGHTS_FILE}: weights of shape {self._coef.shape} do not match {config_path}")
        thresholds = skip_below if skip_below is not None else config["skip_below"]
        missing = set(self.labels) - set(thresholds)
        if missing:
            raise ValueError(f"cascade skip thresholds missing for {sorted(missing)}")
        for label, value in thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"cascade skip threshold for {label} must be a probability, got {value}")
        self.skip_below: dict[str, float] = {label: float(thresholds[label]) for label in self.labels}
        self._skip_row = np.array([self.skip_below[label] for label in self.labels], dtype=np.float64)
        self.info: dict[str, str] = {"name": str(config.get("name", "")), "version": str(config.get("version", ""))}
        self.teacher: dict[str, str] = dict(config.get("teacher", {}))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Per-label first-pass probability that the transformer flags each post, [N, L]."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        logits = featurize(self._vectorizers, list(texts)) @ self._coef + self._intercept
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def below_thresholds(self, probabilities: np.ndarray) -> np.ndarray:
        """True where every label's probability is below its skip threshold (the model alone would skip)."""
        return (probabilities < self._skip_row).all(axis=1)

    def decide(self, texts: Sequence[str]) -> CascadeDecision:
        """Which posts need the transformer: those the model does not clear, and those a rule layer
        finds something in (checked only for the ones the model would let skip)."""
        probabilities = self.probabilities(texts)
        needs = ~self.below_thresholds(probabilities)
        for row in np.flatnonzero(~needs):
            if rule_layers_find_something(texts[row]):
                needs[row] = True
        return CascadeDecision(probabilities, needs)
