"""Per-label Platt scaling: calibrated p = sigmoid(slope * logit + intercept), fitted on dev data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


@dataclass(frozen=True)
class PlattCalibration:
    """One (slope, intercept) pair per label, in label order. Identity: slope 1, intercept 0."""

    slopes: tuple[float, ...]
    intercepts: tuple[float, ...]

    @classmethod
    def identity(cls, num_labels: int) -> PlattCalibration:
        return cls(slopes=(1.0,) * num_labels, intercepts=(0.0,) * num_labels)

    @classmethod
    def fit(cls, logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> PlattCalibration:
        """Fit each label on the rows where it is known (mask 1); labels without both classes stay identity."""
        from sklearn.linear_model import LogisticRegression

        slopes, intercepts = [], []
        for column in range(logits.shape[1]):
            known = mask[:, column] > 0
            labels = targets[known, column] > 0.5
            if labels.all() or not labels.any():
                slopes.append(1.0)
                intercepts.append(0.0)
                continue
            # Near-unregularised: two parameters over thousands of rows cannot overfit.
            model = LogisticRegression(C=1e6, max_iter=1000)
            model.fit(logits[known, column].reshape(-1, 1), labels)
            slopes.append(float(model.coef_[0, 0]))
            intercepts.append(float(model.intercept_[0]))
        return cls(slopes=tuple(slopes), intercepts=tuple(intercepts))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities [B, L] for raw logits [B, L]."""
        logits = np.asarray(logits, dtype=np.float64)
        return sigmoid(logits * np.asarray(self.slopes) + np.asarray(self.intercepts))

    def to_json(self) -> dict:
        return {"method": "platt", "slopes": list(self.slopes), "intercepts": list(self.intercepts)}

    @classmethod
    def from_json(cls, data: dict) -> PlattCalibration:
        if data.get("method") != "platt":
            raise ValueError(f"unknown calibration method {data.get('method')!r}")
        return cls(slopes=tuple(map(float, data["slopes"])), intercepts=tuple(map(float, data["intercepts"])))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of (bin share) * |mean predicted - observed rate|."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if probabilities.size == 0:
        return float("nan")
    bin_index = np.minimum((probabilities * bins).astype(int), bins - 1)
    counts = np.bincount(bin_index, minlength=bins)
    predicted = np.bincount(bin_index, weights=probabilities, minlength=bins)
    observed = np.bincount(bin_index, weights=labels, minlength=bins)
    filled = counts > 0
    gaps = np.abs(predicted[filled] - observed[filled]) / counts[filled]
    return float(np.sum(gaps * counts[filled]) / probabilities.size)


def threshold_for_precision(
    probabilities: np.ndarray, labels: np.ndarray, target_precision: float
) -> dict[str, float | bool]:
    """The lowest threshold whose precision reaches the target (most recall at that precision).

    Where no threshold reaches it, the threshold with the best F1 instead, flagged target_met False.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    order = np.argsort(-probabilities, kind="stable")
    sorted_scores, sorted_labels = probabilities[order], labels[order]
    true_positives = np.cumsum(sorted_labels)
    predicted = np.arange(1, len(sorted_labels) + 1)
    # Only the last index of each run of tied scores is a threshold that can actually be applied.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    precision = true_positives / predicted
    recall = true_positives / max(int(labels.sum()), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    reaching = np.flatnonzero(last_of_tie & (precision >= target_precision))
    target_met = reaching.size > 0
    if target_met:
        index = int(reaching[-1])
    else:
        candidates = np.flatnonzero(last_of_tie)
        index = int(candidates[np.argmax(f1[candidates])])
    return {
        "threshold": float(sorted_scores[index]),
        "precision": float(precision[index]),
        "recall": float(recall[index]),
        "target_precision": float(target_precision),
        "target_met": bool(target_met),
    }
