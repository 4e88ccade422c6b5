"""`abusewatch eval`: the shipped model against alt-profanity-check and single-task baselines.

Headline metrics are the official ones: macro-F1 on the TweetEval offensive and hate validation
sets, weighted F1 on Davidson et al. (our fixed hashed 10% hold-out, three classes). Below them,
per dataset and label: ROC-AUC, precision and recall at the artifact's threshold, and expected
calibration error, for every dev split that annotates the label. Model decisions for the F1
metrics use calibrated probability >= 0.5; the per-label thresholds target a precision instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from abusewatch.labels import LABELS
from abusewatch.model.artifact import DEFAULT_MODEL_DIR

log = logging.getLogger(__name__)

DECISION_PROBABILITY = 0.5
# Labels with fewer positives than this on a dev split get no per-split row (AUC would be noise).
MIN_POSITIVES = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact directory")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--csv", type=Path, default=None, help="evaluate on a CSV with text,label columns instead")
    parser.add_argument("--label", default="toxicity", choices=LABELS, help="model label the CSV's label column means")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--no-baselines", action="store_true", help="skip alt-profanity-check and TF-IDF baselines")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: setting)")


# ---------------------------------------------------------------------------------------------
# Metrics.


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels) > 0.5
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def macro_f1(predicted: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(labels) > 0.5, np.asarray(predicted) > 0.5, average="macro"))


def precision_recall_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float | None, float]:
    labels = np.asarray(labels) > 0.5
    flagged = np.asarray(scores) >= threshold
    precision = float((flagged & labels).sum() / flagged.sum()) if flagged.any() else None
    recall = float((flagged & labels).sum() / max(int(labels.sum()), 1))
    return precision, recall


def davidson_classes(probabilities: np.ndarray) -> np.ndarray:
    """Davidson's classes from our labels: 0 hate (identity attack), 1 offensive (toxic), 2 neither."""
    hate = probabilities[:, LABELS.index("identity_attack")] >= DECISION_PROBABILITY
    toxic = probabilities[:, LABELS.index("toxicity")] >= DECISION_PROBABILITY
    return np.where(hate, 0, np.where(toxic, 1, 2))


def davidson_true_classes(part) -> np.ndarray:
    """Recover Davidson's class from the mapped labels (toxicity and identity_attack are always known)."""
    toxic = part.targets[:, LABELS.index("toxicity")] > 0.5
    hate = part.targets[:, LABELS.index("identity_attack")] > 0.5
    return np.where(hate, 0, np.where(toxic, 1, 2))


def weighted_f1(predicted: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predicted, average="weighted"))


# ---------------------------------------------------------------------------------------------
# Calibration at the end of training.


def calibrate_and_measure(network, tokenizer, dev_parts: dict, max_length: int, precision_target: float):
    """Fit Platt scaling and precision-target thresholds on the pooled dev splits.

    Returns (calibration, thresholds, threshold details, a summary of dev metrics for the manifest).
    """
    from abusewatch.model.calibration import (
        PlattCalibration,
        expected_calibration_error,
        threshold_for_precision,
    )
    from abusewatch.model.scoring import score_logits

    logits = {name: score_logits(network, tokenizer, part.texts, max_length, progress=True) for name, part in dev_parts.items()}
    pooled_logits = np.concatenate(list(logits.values()))
    pooled_targets = np.concatenate([part.targets for part in dev_parts.values()])
    pooled_mask = np.concatenate([part.mask for part in dev_parts.values()])
    calibration = PlattCalibration.fit(pooled_logits, pooled_targets, pooled_mask)
    pooled_probabilities = calibration.probabilities(pooled_logits)

    thresholds, details, aucs, eces = {}, {}, {}, {}
    for column, label in enumerate(LABELS):
        known = pooled_mask[:, column] > 0
        labels, scores = pooled_targets[known, column], pooled_probabilities[known, column]
        aucs[label] = roc_auc(scores, labels)
        eces[label] = expected_calibration_error(scores, labels > 0.5) if known.any() else None
        if (labels > 0.5).any():
            details[label] = threshold_for_precision(scores, labels, precision_target)
            details[label]["dev_examples"] = int(known.sum())
            details[label]["dev_positives"] = int((labels > 0.5).sum())
            thresholds[label] = details[label]["threshold"]
        else:
            thresholds[label] = DECISION_PROBABILITY
    probabilities = {name: calibration.probabilities(value) for name, value in logits.items()}
    summary = {
        "pooled_dev": "all dev splits together; calibration was fitted on the same rows (2 parameters per label)",
        "roc_auc": aucs,
        "ece": eces,
    }
    toxicity = LABELS.index("toxicity")
    identity = LABELS.index("identity_attack")
    if "tweeteval_offensive" in dev_parts:
        part = dev_parts["tweeteval_offensive"]
        summary["tweeteval_offensive_macro_f1"] = macro_f1(
            probabilities["tweeteval_offensive"][:, toxicity] >= DECISION_PROBABILITY, part.targets[:, toxicity]
        )
    if "tweeteval_hate" in dev_parts:
        part = dev_parts["tweeteval_hate"]
        summary["tweeteval_hate_macro_f1"] = macro_f1(
            probabilities["tweeteval_hate"][:, identity] >= DECISION_PROBABILITY, part.targets[:, identity]
        )
    return calibration, thresholds, details, summary
