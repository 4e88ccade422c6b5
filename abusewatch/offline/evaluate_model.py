"""`abusewatch eval`: the shipped model against alt-profanity-check and single-task baselines.

Headline metrics are the official ones: macro-F1 on the TweetEval offensive and hate validation
sets, weighted F1 on Davidson et al. (our fixed hashed 10% hold-out, three classes). Below them,
per dataset and label: ROC-AUC, precision and recall at the artifact's threshold, and expected
calibration error, for every dev split that annotates the label. Model decisions for the F1
metrics use calibrated probability >= 0.5; the per-label thresholds target a precision instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR

DECISION_PROBABILITY = 0.5
# Labels with fewer positives than this on a dev split get no per-split row (AUC would be noise).
MIN_POSITIVES = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact directory")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--csv", type=Path, default=None, help="evaluate on a CSV with text,label columns instead")
    parser.add_argument("--label", default="toxicity", choices=LABELS, help="model label the CSV's label column means")
    parser.add_argument(
        "--rule-layer", choices=sorted(rule_layers()), default=None,
        help="also report this rule layer alone, the model (--label at its threshold) alone, and both, on the CSV "
             "(default: the threat layer for --label threat); e.g. --rule-layer extortion on extortion-dev.csv",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--no-baselines", action="store_true", help="skip alt-profanity-check and TF-IDF baselines")
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


def detector_flag_shares(probabilities: np.ndarray, truth: np.ndarray, thresholds: dict[str, float]) -> dict:
    """Shares of positive (abusive) and negative posts that the pile-on detector counts as abusive.

    The detector's own rule (`is_abusive`) at its thresholds (ABUSEWATCH_DETECTOR_ABUSIVE_THRESHOLDS).
    Those thresholds are an operating point on one model's calibrated scores: a model whose
    calibration on a kind of post moves shifts the detector's recall there, so eval shows the point.
    """
    from abusewatch.detection.features import is_abusive

    unknown = sorted(set(thresholds) - set(LABELS))
    if unknown:
        raise ValueError(f"detector thresholds name unknown labels: {', '.join(unknown)}")
    pairs = tuple(thresholds.items())
    flagged = np.array([is_abusive(dict(zip(LABELS, row)), pairs) for row in probabilities.tolist()], dtype=bool)
    positive = np.asarray(truth) > 0.5
    return {
        "thresholds": dict(thresholds),
        "positives": int(positive.sum()),
        "negatives": int((~positive).sum()),
        "positive_flagged": float(flagged[positive].mean()) if positive.any() else None,
        "negative_flagged": float(flagged[~positive].mean()) if (~positive).any() else None,
    }


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


def calibrate_and_measure(network, tokenizer, dev_parts: dict, max_length: int, precision_target: float,
                          trained_on: set[str] | None = None):
    """Fit Platt scaling and precision-target thresholds on the pooled dev splits of the datasets
    the model trained on (`trained_on`; all trainable ones when None), so a dataset left out of
    training stays out of domain for calibration too.

    Returns (calibration, thresholds, threshold details, a summary of dev metrics for the manifest).
    """
    from abusewatch.scoring.model.calibration import (
        PlattCalibration,
        expected_calibration_error,
        threshold_for_precision,
    )
    from abusewatch.offline.data import pooled_dev_names
    from abusewatch.scoring.inference.direct import network_logits

    logits = {name: network_logits(network, tokenizer, max_length, part.texts, progress=True)
              for name, part in dev_parts.items()}
    pooled = pooled_dev_names(dev_parts, trained_on)
    pooled_logits = np.concatenate([logits[name] for name in pooled])
    pooled_targets = np.concatenate([dev_parts[name].targets for name in pooled])
    pooled_mask = np.concatenate([dev_parts[name].mask for name in pooled])
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
        "pooled_dev": f"dev splits of {', '.join(pooled)}; calibration was fitted on the same rows (2 parameters per label)",
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


# ---------------------------------------------------------------------------------------------
# Baselines.


def profanity_check_probabilities(texts: list[str]) -> np.ndarray:
    """alt-profanity-check (TF-IDF + linear SVM, calibrated by its authors) P(offensive) per text."""
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def tfidf_baseline(train_texts: list[str], train_labels: np.ndarray, texts: list[str]) -> np.ndarray:
    """Single-task baseline: TF-IDF word+char n-grams and logistic regression, trained on the train split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True),
    )
    model = make_pipeline(features, LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced"))
    model.fit(train_texts, train_labels)
    return model.predict(texts)


def _official_rows(datasets_dir: Path, name: str):
    """(train rows, dev rows) of one dataset exactly as training splits them (dev overlap not removed)."""
    from abusewatch.offline import data

    return data.split_rows(data.READERS[name](datasets_dir), data.DATASETS[name])


# ---------------------------------------------------------------------------------------------
# The command.


def _label_row(scope: str, label: str, model_scores, baseline_scores, labels, threshold: float) -> dict:
    from abusewatch.scoring.model.calibration import expected_calibration_error

    precision, recall = precision_recall_at(model_scores, labels, threshold)
    row = {
        "split": scope,
        "label": label,
        "n": int(len(labels)),
        "positives": int((np.asarray(labels) > 0.5).sum()),
        "roc_auc": roc_auc(model_scores, labels),
        "threshold": threshold,
        "precision_at_threshold": precision,
        "recall_at_threshold": recall,
        "ece": expected_calibration_error(model_scores, np.asarray(labels) > 0.5),
    }
    if baseline_scores is not None:
        row["baseline_roc_auc"] = roc_auc(baseline_scores, labels)
        row["baseline_ece"] = expected_calibration_error(baseline_scores, np.asarray(labels) > 0.5)
    return row


def training_datasets(artifact) -> set[str] | None:
    """The datasets the artifact's training runs read, its `--init-from` parents' included (the
    recipe keeps each parent's); None when its recipe does not say."""
    return recipe_datasets(artifact.metadata.get("recipe", {}))


def recipe_datasets(recipe: dict) -> set[str] | None:
    """The datasets a training recipe and the recipes it continued from read; None when unknown."""
    datasets = recipe.get("hyperparameters", {}).get("datasets")
    if not isinstance(datasets, str) or not datasets:
        return None
    names = set(datasets.split(","))
    parent = recipe.get("initialised_from")
    if isinstance(parent, dict) and isinstance(parent.get("recipe"), dict):
        names |= recipe_datasets(parent["recipe"]) or set()
    return names


def evaluate_dev(
    artifact, datasets_dir: Path, baselines: bool, detector_thresholds: dict[str, float], engine_settings=None
) -> dict:
    from abusewatch.offline import data
    from abusewatch.scoring.inference.direct import network_logits

    _, dev = data.load_splits(datasets_dir)
    probabilities, baseline = {}, {}
    for name, part in dev.items():
        logits = network_logits(artifact.network, artifact.tokenizer, artifact.max_length, part.texts, engine_settings)
        probabilities[name] = artifact.calibration.probabilities(logits)
        if baselines:
            baseline[name] = profanity_check_probabilities(part.texts)

    toxicity, identity = LABELS.index("toxicity"), LABELS.index("identity_attack")
    headline = []

    def add_headline(metric: str, name: str, model_value: float, train_and_score=None, profanity_value=None):
        row = {"metric": metric, "split": name, "model": model_value}
        if baselines:
            row["alt_profanity_check"] = profanity_value
            row["tfidf_single_task"] = train_and_score() if train_and_score else None
        headline.append(row)

    for name, column in (("tweeteval_offensive", toxicity), ("tweeteval_hate", identity)):
        part = dev[name]
        truth = part.targets[:, column]

        def single_task(name=name):
            train_rows, dev_rows = _official_rows(datasets_dir, name)
            predicted = tfidf_baseline(
                [r["text"] for r in train_rows], np.array([r["label"] == "1" for r in train_rows]),
                [r["text"] for r in dev_rows],
            )
            return macro_f1(predicted, np.array([r["label"] == "1" for r in dev_rows]))

        add_headline(
            "macro_f1",
            name,
            macro_f1(probabilities[name][:, column] >= DECISION_PROBABILITY, truth),
            single_task,
            macro_f1(baseline[name] >= DECISION_PROBABILITY, truth) if baselines else None,
        )

    davidson = dev["davidson2017"]
    davidson_truth = davidson_true_classes(davidson)

    def davidson_single_task():
        train_rows, dev_rows = _official_rows(datasets_dir, "davidson2017")
        predicted = tfidf_baseline(
            [r["text"] for r in train_rows], np.array([int(r["class"]) for r in train_rows]),
            [r["text"] for r in dev_rows],
        )
        return weighted_f1(predicted, np.array([int(r["class"]) for r in dev_rows]))

    add_headline(
        "weighted_f1",
        "davidson2017",
        weighted_f1(davidson_classes(probabilities["davidson2017"]), davidson_truth),
        davidson_single_task,
        # alt-profanity-check has no hate class: offensive (1) or neither (2).
        weighted_f1(np.where(baseline["davidson2017"] >= DECISION_PROBABILITY, 1, 2), davidson_truth)
        if baselines
        else None,
    )

    offensive_truth = dev["tweeteval_offensive"].targets[:, toxicity]
    detector = {
        "split": "tweeteval_offensive",
        **detector_flag_shares(probabilities["tweeteval_offensive"], offensive_truth, detector_thresholds),
    }

    per_label = []
    trained_on = training_datasets(artifact)
    # Pooled over what the model and its parents trained on, as training calibrates; the rest is out of domain.
    pooled_names = data.pooled_dev_names(dev, trained_on)
    for column, label in enumerate(LABELS):
        threshold = artifact.thresholds[label]
        pooled_model, pooled_baseline, pooled_truth = [], [], []
        for name, part in dev.items():
            known = part.mask[:, column] > 0
            truth = part.targets[known, column]
            if (truth > 0.5).sum() < MIN_POSITIVES or (truth < 0.5).sum() < MIN_POSITIVES:
                continue
            model_scores = probabilities[name][known, column]
            baseline_scores = baseline[name][known] if baselines else None
            row = _label_row(name, label, model_scores, baseline_scores, truth, threshold)
            row["trained_on"] = None if trained_on is None else data.DATASETS[name].trained_in(name, trained_on)
            per_label.append(row)
            if name not in pooled_names:
                continue
            pooled_model.append(model_scores)
            pooled_truth.append(truth)
            if baselines:
                pooled_baseline.append(baseline_scores)
        if pooled_truth:
            per_label.append(
                _label_row(
                    "pooled",
                    label,
                    np.concatenate(pooled_model),
                    np.concatenate(pooled_baseline) if baselines else None,
                    np.concatenate(pooled_truth),
                    threshold,
                )
            )
    return {"headline": headline, "detector_operating_point": detector, "per_label": per_label}


def evaluate_csv(
    artifact, path: Path, label: str, baselines: bool, detector_thresholds: dict[str, float], engine_settings=None,
    rule_layer: str | None = None,
) -> dict:
    from abusewatch.scoring.inference.direct import network_logits

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"text", "label"} <= set(rows[0]):
        raise SystemExit(f"{path}: expected a header with text,label columns")
    texts = [row["text"] for row in rows]
    truth = np.array([float(row["label"]) for row in rows])
    column = LABELS.index(label)
    logits = network_logits(artifact.network, artifact.tokenizer, artifact.max_length, texts, engine_settings)
    probabilities = artifact.calibration.probabilities(logits)
    scores = probabilities[:, column]
    baseline_scores = profanity_check_probabilities(texts) if baselines else None
    row = _label_row(str(path), label, scores, baseline_scores, truth, artifact.thresholds[label])
    row["macro_f1"] = macro_f1(scores >= DECISION_PROBABILITY, truth)
    if baselines:
        row["baseline_macro_f1"] = macro_f1(baseline_scores >= DECISION_PROBABILITY, truth)
    detector = {"split": str(path), **detector_flag_shares(probabilities, truth, detector_thresholds)}
    results = {"headline": [], "detector_operating_point": detector, "per_label": [row]}
    layer = rule_layer or ("threat" if label == "threat" else None)
    if layer:
        results["rule_layer"] = {"layer": layer, **rule_layer_report(
            layer, texts, truth > 0.5, scores >= artifact.thresholds[label], [r.get("family", "") for r in rows])}
    return results


def rule_layers() -> dict:
    """The text rule layers `rule_layer_report` measures, by name: each maps a text to a finding
    with `.detected`."""
    from abusewatch.scoring.extortion import detect_extortion
    from abusewatch.scoring.hostility import detect_hostility
    from abusewatch.scoring.threats import detect_threat

    return {"threat": detect_threat, "extortion": detect_extortion, "hostility": detect_hostility}


def rule_layer_report(
    layer: str, texts: list[str], truth: np.ndarray, model_flags: np.ndarray, families: list[str]
) -> dict:
    """Precision and recall of a rule layer alone, the model alone (at its threshold) and both
    (either flags), over posts taken as aimed at someone; per family where the file has one (the
    written corpora do: the false-positive rate on each kind of hard negative)."""
    detect = rule_layers()[layer]
    rule_flags = np.array([detect(text).detected for text in texts], dtype=bool)

    def summary(flags: np.ndarray) -> dict:
        tp, fp = int((flags & truth).sum()), int((flags & ~truth).sum())
        positives, negatives = int(truth.sum()), int((~truth).sum())
        return {"precision": tp / (tp + fp) if tp + fp else None, "recall": tp / positives if positives else None,
                "false_positive_rate": fp / negatives if negatives else None}

    report = {name: summary(flags) for name, flags in
              (("rule", rule_flags), ("model", model_flags), ("both", rule_flags | model_flags))}
    if any(families):
        report["per_family"] = {
            family: {name: float(flags[[f == family for f in families]].mean())
                     for name, flags in (("rule", rule_flags), ("model", model_flags))}
            for family in sorted(set(families))
        }
    return report


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from abusewatch.common.config import load
    from abusewatch.detection.settings import DetectorSettings
    from abusewatch.offline import data
    from abusewatch.scoring.model.artifact import load_artifact
    from abusewatch.scoring.inference.settings import EngineSettings
    from abusewatch.scoring.model.settings import ModelSettings

    settings = load(ModelSettings)
    threads = args.threads or settings.torch_threads
    torch.set_num_threads(threads)
    # Scored as the classifier scores (its engine's batching and backend), on `threads` CPU threads.
    engine_settings = dataclasses.replace(load(EngineSettings), cpu_threads=threads)
    started = time.time()
    artifact = load_artifact(args.model)
    baselines = not args.no_baselines
    detector_thresholds = load(DetectorSettings).thresholds()
    if args.csv is not None:
        results = evaluate_csv(artifact, args.csv, args.label, baselines, detector_thresholds, engine_settings,
                               rule_layer=args.rule_layer)
    else:
        datasets_dir = args.datasets_dir or data.default_datasets_dir()
        results = evaluate_dev(artifact, datasets_dir, baselines, detector_thresholds, engine_settings)
        from abusewatch.offline.bench.language import measure as measure_language_id
        from abusewatch.scoring.language import LanguageIdentifier, LanguageSettings

        # The classifier's rule for the model's languages: which posts it would score as unknown.
        results["language_id"] = measure_language_id(
            datasets_dir, LanguageIdentifier(artifact.languages, load(LanguageSettings)))
    results["model"] = {"name": artifact.name, "version": artifact.version, "path": str(args.model)}
    results["seconds"] = round(time.time() - started, 1)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"model {artifact.name} {artifact.version}  ({results['seconds']} s)")
    if results["headline"]:
        print()
        print(format_table(results["headline"], ["metric", "split", "model", "alt_profanity_check", "tfidf_single_task"]))
    detector = results.get("detector_operating_point")
    if detector:
        thresholds = ",".join(f"{label}={value}" for label, value in detector["thresholds"].items())
        print()
        print(f"pile-on detector flags (ABUSEWATCH_DETECTOR_ABUSIVE_THRESHOLDS={thresholds}) on {detector['split']}:")
        print(f"  positives {_format(detector['positive_flagged'])} of {detector['positives']}, "
              f"negatives {_format(detector['negative_flagged'])} of {detector['negatives']}")
    print()
    columns = ["split", "label", "n", "positives", "roc_auc", "threshold", "precision_at_threshold",
               "recall_at_threshold", "ece"]
    if baselines:
        columns += ["baseline_roc_auc", "baseline_ece"]
    if args.csv is not None:
        columns += ["macro_f1"] + (["baseline_macro_f1"] if baselines else [])
    print(format_table(results["per_label"], columns))
    out_of_domain = [row for row in results["per_label"] if row.get("trained_on") is False]
    if out_of_domain:
        print()
        print("out of domain: dev splits of datasets the model and its --init-from parents did not train on "
              "(leave-one-dataset-out when a run from the encoder leaves one out with --datasets)")
        print(format_table(out_of_domain, [c for c in ("split", "label", "n", "positives", "roc_auc", "ece",
                                                       "baseline_roc_auc", "baseline_ece") if c in columns]))
    if "language_id" in results:
        from abusewatch.offline.bench.language import format_report as language_report

        print()
        print(language_report(results["language_id"]))
    layer = results.get("rule_layer")
    if layer:
        print()
        print(f"the {layer['layer']} rule layer, the model's {args.label} at its threshold, and either:")
        print(format_table([{"detector": name, **{key: _format(value) for key, value in layer[name].items()}}
                            for name in ("rule", "model", "both")],
                           ["detector", "precision", "recall", "false_positive_rate"]))
        if "per_family" in layer:
            print()
            print(format_table([{"family": family, **{k: _format(v) for k, v in shares.items()}}
                                for family, shares in layer["per_family"].items()], ["family", "rule", "model"]))
    return 0
