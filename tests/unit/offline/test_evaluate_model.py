"""The eval harness's pure metrics: thresholds, Davidson's classes and the detector's operating point."""

import numpy as np
import pytest

from abusewatch.scoring.labels import LABELS
from abusewatch.offline.evaluate_model import (
    davidson_classes,
    detector_flag_shares,
    macro_f1,
    precision_recall_at,
    roc_auc,
)


def _probabilities(**columns: list[float]) -> np.ndarray:
    rows = len(next(iter(columns.values())))
    table = np.zeros((rows, len(LABELS)))
    for label, values in columns.items():
        table[:, LABELS.index(label)] = values
    return table


def test_detector_flags_a_post_when_any_label_reaches_its_threshold():
    probabilities = _probabilities(
        toxicity=[0.9, 0.5, 0.5, 0.1, 0.85],
        insult=[0.0, 0.7, 0.2, 0.0, 0.0],
    )
    offensive = np.array([1, 1, 1, 0, 0])
    shares = detector_flag_shares(probabilities, offensive, {"toxicity": 0.8, "insult": 0.7})
    # Offensive: the first by toxicity, the second by insult (at the threshold), the third by nothing.
    assert shares["positive_flagged"] == pytest.approx(2 / 3)
    assert shares["negative_flagged"] == pytest.approx(1 / 2)
    assert (shares["positives"], shares["negatives"]) == (3, 2)
    assert shares["thresholds"] == {"toxicity": 0.8, "insult": 0.7}


def test_detector_shares_move_with_the_thresholds():
    probabilities = _probabilities(toxicity=[0.9, 0.75, 0.6, 0.3])
    offensive = np.array([1, 1, 0, 0])
    strict = detector_flag_shares(probabilities, offensive, {"toxicity": 0.8})
    lenient = detector_flag_shares(probabilities, offensive, {"toxicity": 0.5})
    assert (strict["positive_flagged"], strict["negative_flagged"]) == (0.5, 0.0)
    assert (lenient["positive_flagged"], lenient["negative_flagged"]) == (1.0, 0.5)


def test_detector_shares_reject_an_unknown_label():
    with pytest.raises(ValueError):
        detector_flag_shares(_probabilities(toxicity=[0.9]), np.array([1]), {"spam": 0.5})


def test_precision_and_recall_at_a_threshold():
    scores = np.array([0.9, 0.8, 0.4, 0.2])
    labels = np.array([1, 0, 1, 0])
    assert precision_recall_at(scores, labels, 0.5) == (0.5, 0.5)
    assert precision_recall_at(scores, labels, 0.95) == (None, 0.0)


def test_macro_f1_and_roc_auc():
    labels = np.array([1, 1, 0, 0])
    assert macro_f1(np.array([1, 1, 0, 0]), labels) == 1.0
    assert macro_f1(np.array([1, 0, 0, 1]), labels) == 0.5
    assert roc_auc(np.array([0.9, 0.2, 0.8, 0.1]), labels) == 0.75
    assert roc_auc(np.array([0.9, 0.2]), np.array([1, 1])) is None


def test_davidson_classes_put_hate_before_offensive():
    probabilities = _probabilities(toxicity=[0.9, 0.9, 0.1], identity_attack=[0.6, 0.1, 0.1])
    assert davidson_classes(probabilities).tolist() == [0, 1, 2]


def test_training_datasets_come_from_the_recipe_and_unknown_stays_unknown():
    from types import SimpleNamespace

    from abusewatch.offline.evaluate_model import training_datasets

    recipe = {"recipe": {"hyperparameters": {"datasets": "olid,edos"}}}
    assert training_datasets(SimpleNamespace(metadata=recipe)) == {"olid", "edos"}
    assert training_datasets(SimpleNamespace(metadata={})) is None
    continued = {"recipe": {"hyperparameters": {"datasets": "trac1_en"}, "initialised_from": recipe}}
    assert training_datasets(SimpleNamespace(metadata=continued)) == {"olid", "edos", "trac1_en"}


def test_rule_layer_report_measures_the_layer_the_model_and_either():
    from abusewatch.offline.evaluate_model import rule_layer_report

    texts = ["I know where you live and I will burn your house down tonight", "see you at the gym tonight",
             "great article, thanks", "you will regret this"]
    truth = np.array([True, False, False, True])
    model_flags = np.array([False, False, False, True])
    report = rule_layer_report("threat", texts, truth, model_flags, ["veiled", "sports", "news", "plain"])
    assert report["rule"] == {"precision": 1.0, "recall": 0.5, "false_positive_rate": 0.0}
    assert report["model"]["recall"] == 0.5
    assert report["both"]["recall"] == 1.0
    assert report["per_family"]["veiled"] == {"rule": 1.0, "model": 0.0}
