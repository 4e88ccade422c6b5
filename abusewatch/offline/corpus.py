"""Labelled texts for simulated streams, and the scorers that turn them into post-scores.

Texts come from the TweetEval offensive validation split in ../shared/datasets (human labels:
offensive / not offensive); they are read at run time and never copied into the project.

Scorers (the `model.name` of every post-scores message says which one produced it):
- `model`: the real classifier through abusewatch.scoring.inference.InferenceEngine, each unique text
  scored once.
- `label-proxy`: NOT a model. Scores drawn from the human label with fixed error rates (an abusive
  text is flagged with probability 0.75, a benign one with probability 0.03), seeded per text.
  For fast, model-free tests and benchmarks of the detector only. Texts it does not flag get
  scores below the detector's abusive thresholds: in the hostile band (toxicity 0.5-0.68, insult
  below 0.65) with a fixed probability per tone (unflagged abusive 0.6, hostile-but-clean 0.6,
  benign 0.05), otherwise low (toxicity 0.01-0.35). Hostile-but-clean texts (the simulator's own,
  issue 21) are flagged abusive with probability 0.1. Whether the real model puts those texts in
  the band is measured in docs/detection.md, not assumed here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

from abusewatch.scoring.labels import LABELS

DEFAULT_DATASET_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "tweeteval_offensive"

PROXY_ABUSIVE_FLAG_RATE = 0.75
PROXY_BENIGN_FLAG_RATE = 0.03
PROXY_HOSTILE_FLAG_RATE = 0.1
# Chance that an unflagged text lands in the hostile band, per tone (abusive, hostile, benign).
PROXY_BAND_RATES = {"abusive": 0.6, "hostile": 0.6, "benign": 0.05}
PROXY_BAND_TOXICITY = (0.5, 0.68)  # with insult = toxicity x 0.6-0.95: below the insult threshold 0.65
PROXY_LOW_TOXICITY = (0.01, 0.35)
PROXY_MODEL = {"name": "label-proxy", "version": "1"}


@dataclasses.dataclass(frozen=True)
class LabelledTexts:
    benign: tuple[str, ...]
    abusive: tuple[str, ...]


def load_texts(dataset_dir: Path = DEFAULT_DATASET_DIR, split: str = "val") -> LabelledTexts:
    texts = (dataset_dir / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (dataset_dir / f"{split}_labels.txt").read_text().split()
    if len(texts) != len(labels):
        raise ValueError(f"{dataset_dir}: {len(texts)} texts but {len(labels)} labels")
    benign = tuple(t.strip() for t, label in zip(texts, labels) if label == "0" and t.strip())
    abusive = tuple(t.strip() for t, label in zip(texts, labels) if label == "1" and t.strip())
    return LabelledTexts(benign, abusive)


def proxy_scores(text: str, abusive: bool, hostile: bool = False) -> dict[str, float]:
    """Label-proxy scores for one text (deterministic: seeded by the text). Which texts it flags
    abusive depends only on the first draw, as before the hostile band existed, so older label-proxy
    streams flag the same posts."""
    rng = random.Random(hashlib.blake2b(text.encode(), digest_size=8).digest())
    tone = "abusive" if abusive else "hostile" if hostile else "benign"
    rate = {"abusive": PROXY_ABUSIVE_FLAG_RATE, "hostile": PROXY_HOSTILE_FLAG_RATE}.get(tone, PROXY_BENIGN_FLAG_RATE)
    flagged = rng.random() < rate
    if flagged:
        toxicity = rng.uniform(0.82, 0.99)
    elif rng.random() < PROXY_BAND_RATES[tone]:
        toxicity = rng.uniform(*PROXY_BAND_TOXICITY)
    else:
        toxicity = rng.uniform(*PROXY_LOW_TOXICITY)
    scores = {label: round(toxicity * rng.uniform(0.05, 0.4), 4) for label in LABELS}
    scores["toxicity"] = round(toxicity, 4)
    scores["insult"] = round(toxicity * rng.uniform(0.6, 0.95), 4)
    return scores


def model_scores(texts: Sequence[str]) -> tuple[list[dict[str, float]], dict[str, str]]:
    """Scores from the real classifier (slow: load the model, score every text once)."""
    from abusewatch.common import config
    from abusewatch.scoring.inference import EngineSettings, InferenceEngine

    engine = InferenceEngine.from_settings(config.load(EngineSettings))
    return engine.score_blocking(list(texts)), engine.model_info
