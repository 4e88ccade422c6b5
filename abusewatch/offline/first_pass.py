"""`abusewatch train-first-pass`: the cascade's first pass, distilled from the transformer.

The transformer scores every training and dev text (cached under var/first-pass, keyed by model
version). Per label a logistic regression on hashed word 1-2-grams and character 2-4-grams learns
whether the transformer flags the post at that label's lowest operating point (`operating_points`:
the model's own threshold, the pile-on detector's, the policy's and the 0.5 of `abusewatch eval`),
or its gold label says abusive. Skip thresholds are then tuned per label on half of the pooled dev
splits (`tune_skip_thresholds`): for each label, the highest threshold under which at most
`--max-lost-share` of the transformer's flags on that label fall (none for threat). The other half
is held out for the realistic-traffic benchmark (`abusewatch bench --stream`).

Written as plain data (no pickle): first_pass.json and weights.npz, read by
abusewatch.scoring.inference.cascade.FirstPass.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from abusewatch.offline.teacher import DEFAULT_CACHE, teacher_scores
from abusewatch.scoring.inference.cascade import (
    CONFIG_FILE,
    FORMAT_VERSION,
    SHIPPED_FIRST_PASS,
    WEIGHTS_FILE,
    featurize,
    hashing_vectorizers,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / SHIPPED_FIRST_PASS
NAME = "abusewatch-first-pass"
EVAL_DECISION = 0.5  # `abusewatch eval` decides at 0.5 for its macro-F1
# Labels whose skipped flags would be lost escalations: none may skip on the tuning half.
NO_LOSS_LABELS = ("threat",)
# Pooled dev posts go by hash of the text to threshold tuning or to the held-out benchmark stream.
HALF_SALT = "abusewatch-first-pass-v1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="artefact directory to write")
    parser.add_argument("--model-dir", default="", help="the transformer (teacher); empty: the shipped model")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where the teacher's scores are cached")
    parser.add_argument("--word-features", type=int, default=2**17, help="hash buckets for word 1-2-grams")
    parser.add_argument("--char-features", type=int, default=2**17, help="hash buckets for character 2-4-grams (0: none)")
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of each logistic regression")
    parser.add_argument("--max-lost-share", type=float, default=0.01,
                        help="most of a label's transformer flags on the tuning half allowed to skip (threat: none)")
    parser.add_argument("--version", default="0.1.0")


def feature_specs(word_features: int, char_features: int) -> list[dict[str, Any]]:
    """The artefact's `features`, in column order (a width of 0 leaves that block out)."""
    specs = [
        {"analyzer": "word", "ngram_range": [1, 2], "n_features": word_features},
        {"analyzer": "char_wb", "ngram_range": [2, 4], "n_features": char_features},
    ]
    return [spec for spec in specs if spec["n_features"] > 0]


@dataclass
class DevPool:
    """Every dev split, deduplicated by text: texts, the split each came from, gold targets and mask."""

    texts: list[str]
    sources: list[str]
    targets: np.ndarray
    mask: np.ndarray

    def subset(self, rows: np.ndarray) -> DevPool:
        return DevPool([self.texts[i] for i in rows], [self.sources[i] for i in rows], self.targets[rows], self.mask[rows])


def in_tuning_half(text: str) -> bool:
    from abusewatch.offline.data import text_digest

    return text_digest(HALF_SALT, text)[0] % 2 == 0


def dev_pool(datasets_dir: Path | None) -> tuple[Any, DevPool]:
    """(merged training texts, pooled dev posts)."""
    from abusewatch.offline.data import load_splits, merge_duplicates, text_key

    train_parts, dev_parts = load_splits(datasets_dir)
    seen: set[str] = set()
    texts, sources, targets, masks = [], [], [], []
    for name, part in dev_parts.items():
        for text, target, known in zip(part.texts, part.targets, part.mask, strict=True):
            key = text_key(text)
            if key in seen:
                continue
            seen.add(key)
            texts.append(text)
            sources.append(name)
            targets.append(target)
            masks.append(known)
    return merge_duplicates(train_parts), DevPool(texts, sources, np.array(targets), np.array(masks))


def halves(pool: DevPool) -> tuple[DevPool, DevPool]:
    """(tuning half, held-out half) of the pooled dev posts."""
    tuning = np.array([in_tuning_half(text) for text in pool.texts])
    return pool.subset(np.flatnonzero(tuning)), pool.subset(np.flatnonzero(~tuning))


def operating_points(artifact: Any) -> dict[str, float]:
    """Per label, the lowest score at which anything downstream acts on it: the model's threshold,
    the pile-on detector's abusive threshold, any policy rule's scores_at_least, and 0.5."""
    from abusewatch.common import config, resources
    from abusewatch.detection.settings import DetectorSettings
    from abusewatch.policy.model import load_policy
    from abusewatch.policy.settings import PolicySettings

    points = {label: min(EVAL_DECISION, artifact.thresholds.get(label, 1.0)) for label in artifact.labels}
    for label, value in config.load(DetectorSettings).thresholds().items():
        if label in points:
            points[label] = min(points[label], value)
    policy = load_policy(resources.shipped_or_local(config.load(PolicySettings).policy_file))
    for rule in policy.rules:
        for label, value in (rule.when.get("scores_at_least") or {}).items():
            if label in points:
                points[label] = min(points[label], float(value))
    return points


def flags(scores: np.ndarray, labels: tuple[str, ...], points: dict[str, float]) -> np.ndarray:
    """Boolean [N, L]: the transformer flags the label at its operating point."""
    return scores >= np.array([points[label] for label in labels])


def tune_skip_thresholds(
    probabilities: np.ndarray, flagged: np.ndarray, labels: tuple[str, ...], points: dict[str, float], max_lost_share: float
) -> dict[str, float]:
    """Per label: the highest threshold with at most max_lost_share of the label's flagged posts
    below it (none for NO_LOSS_LABELS), never above the label's operating point."""
    chosen = {}
    for column, label in enumerate(labels):
        flagged_probabilities = np.sort(probabilities[flagged[:, column], column])
        allowed = 0 if label in NO_LOSS_LABELS else int(max_lost_share * len(flagged_probabilities))
        # Skipping needs p < threshold: at the (allowed+1)-th smallest flagged probability exactly
        # `allowed` flagged posts (ties aside) fall below.
        threshold = float(flagged_probabilities[allowed]) if len(flagged_probabilities) > allowed else 1.0
        chosen[label] = min(threshold, points[label])
    return chosen


def cascade_report(
    first_pass_probabilities: np.ndarray,
    rule_hit: np.ndarray,
    transformer: np.ndarray,
    pool: DevPool,
    labels: tuple[str, ...],
    points: dict[str, float],
    skip_below: dict[str, float],
) -> dict[str, Any]:
    """What the cascade does on `pool` against the transformer alone: share skipped, flags lost per
    label at the operating points, and macro-F1 (gold, at 0.5) per dev split and label."""
    from sklearn.metrics import f1_score

    skip_row = np.array([skip_below[label] for label in labels])
    skipped = (first_pass_probabilities < skip_row).all(axis=1) & ~rule_hit
    cascaded = np.where(skipped[:, None], first_pass_probabilities, transformer)
    flagged = flags(transformer, labels, points)
    lost = {label: int((flagged[:, i] & skipped).sum()) for i, label in enumerate(labels)}
    flagged_counts = {label: int(flagged[:, i].sum()) for i, label in enumerate(labels)}
    sources = np.array(pool.sources)
    per_split = []
    for source in sorted(set(pool.sources)):
        rows = sources == source
        for column, label in enumerate(labels):
            known = rows & (pool.mask[:, column] > 0)
            gold = pool.targets[known, column] > 0.5
            if known.sum() < 20 or gold.all() or not gold.any():
                continue
            alone = f1_score(gold, transformer[known, column] >= EVAL_DECISION, average="macro")
            with_cascade = f1_score(gold, cascaded[known, column] >= EVAL_DECISION, average="macro")
            per_split.append({"split": source, "label": label, "posts": int(known.sum()),
                              "transformer_alone": float(alone), "cascade": float(with_cascade),
                              "skipped": float(skipped[rows].mean())})
    return {
        "posts": len(pool.texts),
        "skipped": float(skipped.mean()),
        "rule_layer_kept": int((rule_hit & (first_pass_probabilities < skip_row).all(axis=1)).sum()),
        "flagged_by_transformer": flagged_counts,
        "lost_flags": lost,
        "per_split": per_split,
        "max_macro_f1_loss": max((row["transformer_alone"] - row["cascade"] for row in per_split), default=0.0),
    }


def rule_hits(texts: list[str]) -> np.ndarray:
    from abusewatch.scoring.inference.cascade import rule_layers_find_something

    return np.array([rule_layers_find_something(text) for text in texts], dtype=bool)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from abusewatch.common.resources import model_dir
    from abusewatch.scoring.model.artifact import load_artifact

    artifact = load_artifact(model_dir(args.model_dir))
    labels = tuple(artifact.labels)
    points = operating_points(artifact)
    train_part, pool = dev_pool(args.datasets_dir)
    tuning, held_out = halves(pool)
    log.info("training texts %d, dev posts %d (tuning half %d, held-out half %d)", len(train_part), len(pool.texts),
             len(tuning.texts), len(held_out.texts))
    train_teacher = teacher_scores(artifact, train_part.texts, args.cache_dir, "train")
    dev_teacher = teacher_scores(artifact, pool.texts, args.cache_dir, "dev")
    tuning_rows = np.array([in_tuning_half(text) for text in pool.texts])

    features = feature_specs(args.word_features, args.char_features)
    vectorizers = hashing_vectorizers(features)
    started = time.perf_counter()
    x_train = featurize(vectorizers, train_part.texts)
    teacher_flags = flags(train_teacher, labels, points)
    gold_positive = (train_part.targets > 0.5) & (train_part.mask > 0)
    coef = np.zeros((x_train.shape[1], len(labels)), dtype=np.float32)
    intercept = np.zeros(len(labels), dtype=np.float32)
    for column, label in enumerate(labels):
        target = teacher_flags[:, column] | gold_positive[:, column]
        model = LogisticRegression(C=args.C, solver="liblinear", max_iter=200)
        model.fit(x_train, target)
        coef[:, column] = model.coef_[0]
        intercept[column] = model.intercept_[0]
        log.info("%s: %d positives of %d", label, int(target.sum()), len(target))
    train_seconds = time.perf_counter() - started

    # Stored as float16; tune on the probabilities the runtime will compute from those weights.
    coef16 = coef.astype(np.float16)
    x_dev = featurize(vectorizers, pool.texts)
    dev_probabilities = 1.0 / (1.0 + np.exp(-(x_dev @ coef16.astype(np.float32) + intercept).astype(np.float64)))
    dev_flags = flags(dev_teacher, labels, points)
    skip_below = tune_skip_thresholds(dev_probabilities[tuning_rows], dev_flags[tuning_rows], labels, points, args.max_lost_share)
    hits = rule_hits(pool.texts)
    reports = {
        "tuning_half": cascade_report(dev_probabilities[tuning_rows], hits[tuning_rows], dev_teacher[tuning_rows], tuning,
                                      labels, points, skip_below),
        "held_out_half": cascade_report(dev_probabilities[~tuning_rows], hits[~tuning_rows], dev_teacher[~tuning_rows],
                                        held_out, labels, points, skip_below),
    }
    config = {
        "format_version": FORMAT_VERSION,
        "name": NAME,
        "version": args.version,
        "labels": list(labels),
        "features": features,
        "skip_below": skip_below,
        "teacher": {"name": artifact.name, "version": artifact.version},
        "metadata": {
            "command": "abusewatch train-first-pass " + " ".join(
                f"--{key.replace('_', '-')} {value}" for key, value in vars(args).items()
                if key in ("C", "word_features", "char_features", "max_lost_share", "version")),
            "git_commit": git_commit(),
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "training_texts": len(train_part),
            "train_seconds": round(train_seconds, 1),
            "operating_points": points,
            "training_target": "transformer flags the label at its operating point, or the gold label is positive",
            "dev": reports,
        },
    }
    args.output.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output / WEIGHTS_FILE, coef=coef16, intercept=intercept)
    (args.output / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def run(args: argparse.Namespace) -> int:
    config = train(args)
    print(json.dumps({"skip_below": config["skip_below"], "dev": config["metadata"]["dev"]}, indent=2))
    return 0


def tune_report(artifact: Any, first_pass: Any, datasets_dir: Path | None, cache_dir: Path = DEFAULT_CACHE,
                max_lost_share: float = 0.01) -> dict[str, Any]:
    """`abusewatch bench --tune-cascade`: per-label skip thresholds re-tuned on the tuning half for
    `first_pass`, and what its shipped thresholds and the re-tuned ones do on both dev halves."""
    labels = tuple(artifact.labels)
    points = operating_points(artifact)
    _, pool = dev_pool(datasets_dir)
    transformer = teacher_scores(artifact, pool.texts, cache_dir, "dev")
    columns = [first_pass.labels.index(label) for label in labels]
    probabilities = first_pass.probabilities(pool.texts)[:, columns]
    tuning = np.array([in_tuning_half(text) for text in pool.texts])
    hits = rule_hits(pool.texts)
    tuned = tune_skip_thresholds(probabilities[tuning], flags(transformer, labels, points)[tuning], labels, points, max_lost_share)
    halves_rows = {"tuning_half": tuning, "held_out_half": ~tuning}
    tuning_pool, held_out_pool = halves(pool)
    pools = {"tuning_half": tuning_pool, "held_out_half": held_out_pool}
    return {
        "operating_points": points,
        "max_lost_share": max_lost_share,
        "shipped_skip_below": dict(first_pass.skip_below),
        "tuned_skip_below": tuned,
        "shipped": {half: cascade_report(probabilities[rows], hits[rows], transformer[rows], pools[half], labels, points,
                                         first_pass.skip_below) for half, rows in halves_rows.items()},
        "tuned": {half: cascade_report(probabilities[rows], hits[rows], transformer[rows], pools[half], labels, points,
                                       tuned) for half, rows in halves_rows.items()},
    }


def print_tune_report(report: dict[str, Any]) -> None:
    print("label              op point  shipped skip_below  re-tuned skip_below")
    for label, point in report["operating_points"].items():
        print(f"{label:<18} {point:>8.3f}  {report['shipped_skip_below'][label]:>18.4f}  {report['tuned_skip_below'][label]:>19.4f}")
    for which in ("shipped", "tuned"):
        for half, result in report[which].items():
            lost = ", ".join(f"{label} {result['lost_flags'][label]}/{result['flagged_by_transformer'][label]}"
                             for label in result["lost_flags"])
            print(f"{which} thresholds, {half} ({result['posts']} posts): skips {result['skipped']:.1%}, "
                  f"rule layers kept {result['rule_layer_kept']}, max macro-F1 loss per split/label "
                  f"{result['max_macro_f1_loss'] * 100:.2f} points; lost flags {lost}")
