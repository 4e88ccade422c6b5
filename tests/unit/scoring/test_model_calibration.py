"""Platt scaling, expected calibration error and precision-target thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from abusewatch.scoring.model.calibration import (
    PlattCalibration,
    expected_calibration_error,
    sigmoid,
    threshold_for_precision,
)


def test_platt_fit_recovers_the_generating_slope_and_intercept():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(20000, 2))
    true_slopes, true_intercepts = np.array([0.5, 2.0]), np.array([-1.0, 0.5])
    labels = rng.random((20000, 2)) < sigmoid(logits * true_slopes + true_intercepts)
    mask = np.ones_like(logits)
    mask[:10000, 1] = 0  # the second label is known on half the rows only
    calibration = PlattCalibration.fit(logits, labels.astype(float), mask)
    assert calibration.slopes == pytest.approx(true_slopes, abs=0.1)
    assert calibration.intercepts == pytest.approx(true_intercepts, abs=0.1)


def test_probabilities_are_vectorised_per_label_and_roundtrip_json():
    calibration = PlattCalibration(slopes=(1.0, 2.0), intercepts=(0.0, -1.0))
    logits = np.array([[0.0, 0.5], [2.0, 0.5]])
    expected = np.array([[0.5, 0.5], [sigmoid(2.0), 0.5]])
    assert calibration.probabilities(logits) == pytest.approx(expected)
    assert PlattCalibration.from_json(calibration.to_json()) == calibration
    assert PlattCalibration.identity(2).probabilities(logits) == pytest.approx(sigmoid(logits))


def test_label_with_one_class_keeps_identity():
    logits = np.array([[0.1], [0.2]])
    calibration = PlattCalibration.fit(logits, np.ones((2, 1)), np.ones((2, 1)))
    assert calibration == PlattCalibration.identity(1)


def test_ece_is_zero_when_calibrated_and_the_gap_when_not():
    probabilities = np.array([0.25] * 4 + [0.75] * 4)
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(4, 0.9), np.array([1, 0, 0, 0])) == pytest.approx(0.65)


def test_threshold_is_lowest_reaching_the_precision_target():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([1, 1, 0, 1, 0, 0])
    result = threshold_for_precision(scores, labels, 0.75)
    assert result["threshold"] == 0.6 and result["target_met"]
    assert result["precision"] == pytest.approx(0.75) and result["recall"] == pytest.approx(1.0)
    unreachable = threshold_for_precision(scores, 1 - labels, 0.99)
    assert not unreachable["target_met"]
