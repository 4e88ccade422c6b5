"""Issue 20: does a stacked blend of the transformer with a lexical model beat both out of domain?

Per label, a logistic regression on [transformer logit, logit of a lexical model's probability]
is fitted on the pooled dev splits of the datasets the model trained on (the pooling `abusewatch
eval` uses): that one fit is both the stacking and the calibration. In-domain figures are
cross-fitted (each pooled dev post is scored by a blend fitted on the other folds; folds by hash
of the normalised text, so duplicates share a fold); out-of-domain splits are scored by the blend
fitted on all of the in-domain dev. Compared with the transformer alone (its shipped Platt
calibration) and alt-profanity-check alone, by ROC-AUC and ECE as `abusewatch eval` computes them.

Lexical models: alt-profanity-check (one P(offensive), used for every label, as eval does) and the
cascade's first pass (per-label probabilities). The shipped first pass (0.1.0) was distilled from
the transformer before hasoc2019_en, trac1_en and threat_corpus joined the data layer (its
metadata's 122,182 training texts are the older datasets' merged training texts), so it is out of
domain on them as the transformer is; a first pass trained again would read them.

    python -m abusewatch.offline.blend_eval [--json FILE]

Offline only: nothing at runtime imports this.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from abusewatch.offline import data
from abusewatch.offline.evaluate_model import (
    MIN_POSITIVES,
    format_table,
    profanity_check_probabilities,
    roc_auc,
    training_datasets,
)
from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.model.calibration import expected_calibration_error, sigmoid

FOLDS = 5
FOLD_SALT = "abusewatch-blend-v1"
ECE_TARGET = 0.08  # the out-of-domain calibration target
# Scores of each method: the transformer alone, the lexical models alone, then the blends (the
# features each stacks: "transformer" is its raw logit, a lexical model the logit of its probability).
SINGLE = ("transformer", "apc", "first_pass")
BLENDS = {
    "tf+apc": ("transformer", "apc"),
    "tf+fp": ("transformer", "first_pass"),
    "tf+apc+fp": ("transformer", "apc", "first_pass"),
}
METHODS = SINGLE + tuple(BLENDS)


# ---------------------------------------------------------------------------------------------
# The stacking (pure).


def logit(probabilities: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


@dataclasses.dataclass(frozen=True)
class Stack:
    """A fitted blend: P(label) = sigmoid(features @ weights + intercept)."""

    weights: tuple[float, ...]
    intercept: float

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(features, dtype=np.float64) @ np.array(self.weights) + self.intercept)


def fit_stack(features: np.ndarray, labels: np.ndarray) -> Stack:
    """Logistic regression (near-unregularised, as Platt scaling is) of labels on the feature columns."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels) > 0.5
    if labels.all() or not labels.any():
        raise ValueError("a blend needs both classes in its training rows")
    model = LogisticRegression(C=1e6, max_iter=2000)
    model.fit(np.asarray(features, dtype=np.float64), labels)
    return Stack(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))


def cross_fit(features: np.ndarray, labels: np.ndarray, folds: np.ndarray,
              fit: Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]] = fit_stack) -> np.ndarray:
    """Out-of-fold predictions: each row is scored by `fit` on the rows of every other fold only."""
    folds = np.asarray(folds)
    predictions = np.full(len(labels), np.nan)
    for fold in np.unique(folds):
        held = folds == fold
        predictions[held] = fit(features[~held], labels[~held])(features[held])
    return predictions


def auc_gain_interval(blend: np.ndarray, baseline: np.ndarray, truth: np.ndarray, draws: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """95% paired-bootstrap interval of ROC-AUC(blend) - ROC-AUC(baseline) over resamples of the rows."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(draws):
        rows = rng.integers(0, len(truth), len(truth))
        blend_auc, baseline_auc = roc_auc(blend[rows], truth[rows]), roc_auc(baseline[rows], truth[rows])
        if blend_auc is not None and baseline_auc is not None:
            gains.append(blend_auc - baseline_auc)
    low, high = np.percentile(gains, [2.5, 97.5])
    return float(low), float(high)


def text_folds(texts: list[str], folds: int = FOLDS) -> np.ndarray:
    """Fold of each text by hash of its normalised form (the same post in two splits: one fold)."""
    return np.array([int.from_bytes(data.text_digest(FOLD_SALT, t)[:8], "big") % folds for t in texts])


# ---------------------------------------------------------------------------------------------
# Scoring and the report.


def score_dev(artifact, first_pass, dev: dict, engine_settings) -> dict[str, dict[str, np.ndarray]]:
    """Per dev split: the transformer's raw logits and calibrated probabilities [N, L],
    alt-profanity-check's P(offensive) [N] and the first pass's per-label probabilities [N, L]."""
    from abusewatch.scoring.inference.direct import network_logits

    columns = [first_pass.labels.index(label) for label in LABELS]
    scores = {}
    for name, part in dev.items():
        logits = network_logits(artifact.network, artifact.tokenizer, artifact.max_length, part.texts, engine_settings)
        scores[name] = {
            "logits": logits.astype(np.float64),
            "calibrated": artifact.calibration.probabilities(logits),
            "apc": profanity_check_probabilities(part.texts),
            "first_pass": first_pass.probabilities(part.texts)[:, columns],
        }
    return scores


def _features(scores: dict[str, np.ndarray], column: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per single method, its stacking feature [n] on `rows`."""
    return {"transformer": scores["logits"][rows, column], "apc": logit(scores["apc"][rows]),
            "first_pass": logit(scores["first_pass"][rows, column])}


def _singles(scores: dict[str, np.ndarray], column: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per single method, its own probability [n] on `rows` (the transformer's shipped calibration)."""
    return {"transformer": scores["calibrated"][rows, column], "apc": scores["apc"][rows],
            "first_pass": scores["first_pass"][rows, column]}


def _row(split: str, label: str, in_domain: bool, truth: np.ndarray, predictions: dict[str, np.ndarray]) -> dict:
    positive = truth > 0.5
    row = {"split": split, "label": label, "in_domain": in_domain, "n": int(len(truth)),
           "positives": int(positive.sum())}
    for method, p in predictions.items():
        row[f"auc:{method}"] = roc_auc(p, truth)
        row[f"ece:{method}"] = expected_calibration_error(p, positive)
    if not in_domain:  # each blend's gain over the better of the transformer and apc, with its interval
        best = max(("transformer", "apc"), key=lambda m: row[f"auc:{m}"])
        row["best_single"] = best
        for blend in BLENDS:
            low, high = auc_gain_interval(predictions[blend], predictions[best], truth)
            row[f"gain_low:{blend}"] = low
            row[f"gain:{blend}"] = f"{row[f'auc:{blend}'] - row[f'auc:{best}']:+.3f} [{low:+.3f}, {high:+.3f}]"
    return row


def evaluate(scores: dict, dev: dict, pooled_names: list[str], trained_on: set[str] | None) -> dict:
    """Rows per label: the in-domain pool (blends cross-fitted), then each out-of-domain split
    (blends fitted on the whole pool) where the label has MIN_POSITIVES positives and negatives."""
    out_of_domain = [] if trained_on is None else [
        name for name in dev if not data.DATASETS[name].trained_in(name, trained_on)]
    rows, stacks = [], {}
    for column, label in enumerate(LABELS):
        known = {name: dev[name].mask[:, column] > 0 for name in dev}
        pooled = [name for name in pooled_names if known[name].any()]
        truth = np.concatenate([dev[name].targets[known[name], column] for name in pooled])
        if (truth > 0.5).sum() < MIN_POSITIVES or (truth < 0.5).sum() < MIN_POSITIVES:
            continue
        feats = [_features(scores[name], column, known[name]) for name in pooled]
        feats = {method: np.concatenate([f[method] for f in feats]) for method in SINGLE}
        singles = [_singles(scores[name], column, known[name]) for name in pooled]
        predictions = {method: np.concatenate([s[method] for s in singles]) for method in SINGLE}
        folds = text_folds([t for name in pooled for t, k in zip(dev[name].texts, known[name]) if k])
        fitted = {}
        for blend, inputs in BLENDS.items():
            x = np.column_stack([feats[m] for m in inputs])
            predictions[blend] = cross_fit(x, truth, folds)
            fitted[blend] = fit_stack(x, truth)
        stacks[label] = {blend: dataclasses.asdict(stack) for blend, stack in fitted.items()}
        rows.append(_row("in-domain pooled (5-fold cross-fitted)", label, True, truth, predictions))
        for name in out_of_domain:
            split_truth = dev[name].targets[known[name], column]
            if (split_truth > 0.5).sum() < MIN_POSITIVES or (split_truth < 0.5).sum() < MIN_POSITIVES:
                continue
            split_feats = _features(scores[name], column, known[name])
            predictions = _singles(scores[name], column, known[name])
            for blend, inputs in BLENDS.items():
                predictions[blend] = fitted[blend](np.column_stack([split_feats[m] for m in inputs]))
            rows.append(_row(name, label, False, split_truth, predictions))
    return {"rows": rows, "stacks": stacks, "verdict": verdict(rows)}


def verdict(rows: list[dict]) -> dict:
    """Per blend: whether it beats the transformer and alt-profanity-check on ROC-AUC, and meets
    the ECE target, on every out-of-domain row (and on the toxicity rows alone)."""
    out = [row for row in rows if not row["in_domain"]]
    result = {}
    for blend in BLENDS:
        def wins(row, blend=blend):
            return row[f"auc:{blend}"] > max(row["auc:transformer"], row["auc:apc"])

        def calibrated(row, blend=blend):
            return row[f"ece:{blend}"] <= ECE_TARGET

        toxicity = [row for row in out if row["label"] == "toxicity"]
        result[blend] = {
            "beats_both_auc_every_ood_row": all(map(wins, out)),
            "ece_target_every_ood_row": all(map(calibrated, out)),
            "beats_both_auc_every_ood_toxicity": all(map(wins, toxicity)),
            "ece_target_every_ood_toxicity": all(map(calibrated, toxicity)),
            "ood_rows_won": f"{sum(map(wins, out))}/{len(out)}",
            # A win whose bootstrap interval of the gain over the better single model excludes 0.
            "ood_rows_won_clearly": f"{sum(row[f'gain_low:{blend}'] > 0 for row in out)}/{len(out)}",
            "ood_rows_calibrated": f"{sum(map(calibrated, out))}/{len(out)}",
        }
    return result


def format_report(results: dict) -> str:
    meta = results["meta"]
    lines = [f"model {meta['model']}  first pass {meta['first_pass']}  ({meta['seconds']} s)",
             f"in-domain pool: {', '.join(meta['pooled'])}",
             "transformer = shipped calibration; apc = alt-profanity-check; first_pass = cascade first pass "
             "(0.1.0 predates hasoc/trac/threat_corpus: out of domain there too); blends = logistic "
             "regression on the logits, fitted on the in-domain pool (cross-fitted on it)", ""]
    base = ["split", "label", "n", "positives"]
    for metric in ("auc", "ece"):
        lines.append("ROC-AUC" if metric == "auc" else f"ECE (target <= {ECE_TARGET} out of domain)")
        table = [{**{k: row[k] for k in base}, **{m: row[f"{metric}:{m}"] for m in METHODS}} for row in results["rows"]]
        lines += [format_table(table, base + list(METHODS)), ""]
    lines.append("out of domain: each blend's ROC-AUC gain over the better single model, 95% paired bootstrap")
    lines += [format_table([row for row in results["rows"] if not row["in_domain"]],
                           ["split", "label", "best_single", *(f"gain:{blend}" for blend in BLENDS)]), ""]
    lines.append("blend weights (fitted on all in-domain dev; features in the blend's order) and intercept")
    lines.append(format_table(
        [{"label": label, **{blend: " ".join(f"{w:+.2f}" for w in (*s["weights"], s["intercept"]))
                             for blend, s in stacks.items()}} for label, stacks in results["stacks"].items()],
        ["label", *BLENDS]))
    lines += ["", "verdict (out of domain: beats both the transformer and apc on ROC-AUC; ECE <= target)"]
    lines.append(format_table([{"blend": blend, **v} for blend, v in results["verdict"].items()],
                              ["blend", "ood_rows_won", "ood_rows_won_clearly", "ood_rows_calibrated", "beats_both_auc_every_ood_toxicity",
                               "ece_target_every_ood_toxicity", "beats_both_auc_every_ood_row",
                               "ece_target_every_ood_row"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abusewatch.offline.blend_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="artifact directory (default: the shipped model)")
    parser.add_argument("--first-pass", default="", help="first-pass directory (default: the shipped one)")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from abusewatch.common.config import load
    from abusewatch.scoring.inference.cascade import FirstPass
    from abusewatch.scoring.inference.settings import EngineSettings
    from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR, load_artifact

    torch.set_num_threads(args.threads)
    engine_settings = dataclasses.replace(load(EngineSettings), cpu_threads=args.threads)
    started = time.time()
    artifact = load_artifact(args.model or DEFAULT_MODEL_DIR)
    first_pass = FirstPass(args.first_pass)
    _, dev = data.load_splits(args.datasets_dir or data.default_datasets_dir())
    trained_on = training_datasets(artifact)
    pooled_names = data.pooled_dev_names(dev, trained_on)
    results = evaluate(score_dev(artifact, first_pass, dev, engine_settings), dev, pooled_names, trained_on)
    results["meta"] = {"model": f"{artifact.name} {artifact.version}",
                       "first_pass": f"{first_pass.info['name']} {first_pass.info['version']}",
                       "pooled": pooled_names, "folds": FOLDS, "min_positives": MIN_POSITIVES,
                       "seconds": round(time.time() - started, 1)}
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
