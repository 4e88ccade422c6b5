"""The cascade's first pass: a lexical model decides which posts need the transformer.

alt-profanity-check (TF-IDF + linear SVM, ~50k posts/s on one core) scores every post; posts below
the threshold are clearly benign to it and skip the transformer. Their scores for every label are
the first-pass probability, which is below the threshold and so below any decision threshold the
threshold was tuned against. Posts without profane words can be abusive (threats, coded hate), so
the threshold is chosen on the dev sets for at most 1 point of macro-F1 lost (`abusewatch bench
--tune-cascade`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class LexicalFirstPass:
    """Scores posts with alt-profanity-check and splits off the ones that skip the transformer."""

    def __init__(self, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"cascade threshold must be a probability, got {threshold}")
        # Imported here: it loads a scikit-learn model from disk, needed only with the cascade on.
        from profanity_check import predict_prob

        self.threshold = threshold
        self._predict_prob = predict_prob

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The lexical model's probability that each post is offensive."""
        return np.asarray(self._predict_prob(list(texts)), dtype=np.float64)

    def needs_transformer(self, probabilities: np.ndarray) -> np.ndarray:
        """Boolean mask: True where the post must go to the transformer."""
        return probabilities >= self.threshold
