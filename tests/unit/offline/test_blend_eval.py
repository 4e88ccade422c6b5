"""Issue 20's stacked blend: the fit, and cross-fitting that never scores a row with its own fold."""

import numpy as np
import pytest

from abusewatch.offline.blend_eval import auc_gain_interval, cross_fit, fit_stack, logit, text_folds, verdict
from abusewatch.offline.evaluate_model import roc_auc


def _perfect_and_random(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(float)
    perfect = np.where(labels > 0.5, 2.0, -2.0) + rng.normal(0, 0.3, n)  # separates the classes
    noise = rng.normal(0, 1, n)
    return np.column_stack([noise, perfect]), labels


def test_blend_of_a_perfect_and_a_random_feature_ranks_perfectly_and_weights_the_perfect_one():
    features, labels = _perfect_and_random()
    stack = fit_stack(features, labels)
    assert abs(stack.weights[1]) > 10 * abs(stack.weights[0])
    assert roc_auc(stack(features), labels) > 0.999
    folds = np.arange(len(labels)) % 5
    assert roc_auc(cross_fit(features, labels, folds), labels) > 0.999
    assert roc_auc(features[:, 0], labels) < 0.6  # the random one alone is near chance


def test_blend_is_calibrated_on_its_training_distribution():
    rng = np.random.default_rng(1)
    score = rng.normal(0, 1.5, 20000)
    labels = (rng.random(len(score)) < 1 / (1 + np.exp(-(0.5 * score - 1.0)))).astype(float)
    stack = fit_stack(score.reshape(-1, 1), labels)
    assert stack.weights[0] == pytest.approx(0.5, abs=0.05)
    assert stack.intercept == pytest.approx(-1.0, abs=0.06)


def test_cross_fitted_predictions_never_use_their_own_fold():
    # Column 0 carries each row's id; the "model" remembers which ids it trained on and predicts 1
    # for exactly those, so any leak of a row's own fold into its prediction shows as a 1.
    n = 103
    features = np.column_stack([np.arange(n), np.zeros(n)]).astype(float)
    labels = np.arange(n) % 2
    folds = np.arange(n) % 5
    trained_folds = []

    def remembering_fit(x, y):
        seen = set(x[:, 0].astype(int))
        trained_folds.append(set(folds[list(seen)]))
        return lambda rows: np.array([float(int(i) in seen) for i in rows[:, 0]])

    predictions = cross_fit(features, labels, folds, fit=remembering_fit)
    assert not np.isnan(predictions).any()
    assert (predictions == 0.0).all()
    assert len(trained_folds) == 5 and all(len(f) == 4 for f in trained_folds)


def test_folds_follow_the_normalised_text():
    folds = text_folds(["You are AWFUL @USER", "you are awful", "something else entirely"] * 1)
    assert folds[0] == folds[1]
    assert set(text_folds([f"post {i}" for i in range(500)])) == set(range(5))


def test_fit_refuses_one_class():
    with pytest.raises(ValueError):
        fit_stack(np.zeros((10, 2)), np.zeros(10))


def test_logit_is_finite_at_the_ends():
    assert np.isfinite(logit(np.array([0.0, 0.5, 1.0]))).all()
    assert logit(np.array([0.5]))[0] == pytest.approx(0.0)


def test_verdict_needs_a_win_over_both_on_every_out_of_domain_row():
    def row(label, tf, apc, blend, ece, in_domain=False):
        values = {"gain_low:tf+apc": 0.01 if tf < 0.75 else -0.01, "gain_low:tf+fp": 0.0, "gain_low:tf+apc+fp": 0.0,
                  "auc:transformer": tf, "auc:apc": apc, "ece:transformer": 0.2, "ece:apc": 0.2}
        for name in ("tf+apc", "tf+fp", "tf+apc+fp"):
            values[f"auc:{name}"], values[f"ece:{name}"] = blend, ece
        return {"label": label, "in_domain": in_domain, **values}

    rows = [row("toxicity", 0.70, 0.68, 0.72, 0.05), row("toxicity", 0.79, 0.70, 0.78, 0.05),
            row("toxicity", 0.5, 0.5, 0.1, 0.9, in_domain=True)]
    result = verdict(rows)["tf+apc"]
    assert result["ood_rows_won"] == "1/2"
    assert result["ood_rows_won_clearly"] == "1/2"
    assert not result["beats_both_auc_every_ood_row"]
    assert result["ece_target_every_ood_row"]


def test_auc_gain_interval_is_zero_for_the_same_scores_and_positive_for_a_clear_gain():
    features, labels = _perfect_and_random(400)
    assert auc_gain_interval(features[:, 1], features[:, 1], labels, draws=200) == (0.0, 0.0)
    low, high = auc_gain_interval(features[:, 1], features[:, 0], labels, draws=200)
    assert 0.3 < low <= high
