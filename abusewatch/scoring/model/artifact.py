"""The shipped model artifact: one directory, weights in bf16, everything else in abusewatch.json.

Layout:
  model.safetensors   every weight of AbuseClassifier (encoder.* and head.*), stored as bf16
  config.json         the encoder's transformers config (architecture only)
  tokenizer.json ...  the fast tokenizer's files
  abusewatch.json     name, version, labels, languages, max_length, text_normalisation, calibration,
                      thresholds, metadata
Loading upcasts the weights to fp32 on CPU, puts the network in eval mode and wraps the tokenizer
in the artifact's text normalisation (`abusewatch.scoring.model.text`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abusewatch.common import resources
from abusewatch.scoring.model.calibration import PlattCalibration

DEFAULT_MODEL_DIR = resources.shipped_root() / resources.SHIPPED_MODEL
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = resources.MODEL_MANIFEST
FORMAT_VERSION = 1
# What artifacts written before the `languages` field read: every one of them was trained on the
# English datasets only (docs/model-card.md, "Languages").
LANGUAGES_BEFORE_THE_FIELD = ("en",)


@dataclass
class ModelArtifact:
    name: str
    version: str
    labels: tuple[str, ...]
    network: Any  # AbuseClassifier; typed loosely so this module imports without torch
    tokenizer: Any  # NormalisingTokenizer around the transformers fast tokenizer
    max_length: int
    calibration: PlattCalibration
    thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    # ISO 639-1 codes of the languages the model was trained to read, its training data's first;
    # scores of posts in any other language are unknown (abusewatch.scoring.language).
    languages: tuple[str, ...] = LANGUAGES_BEFORE_THE_FIELD

    @property
    def text_normalisation(self) -> str:
        return getattr(self.tokenizer, "normalisation", "none")


def save_artifact(artifact: ModelArtifact, path: str | Path = DEFAULT_MODEL_DIR) -> Path:
    """Write `artifact` to directory `path` (created if needed; existing files are overwritten)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().to(device="cpu", dtype=torch.bfloat16).contiguous()
        for name, tensor in artifact.network.state_dict().items()
    }
    save_file(state, str(path / WEIGHTS_FILE), metadata={"format": "abusewatch", "dtype": "bfloat16"})
    artifact.network.encoder.config.save_pretrained(str(path))
    artifact.tokenizer.save_pretrained(str(path))
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": artifact.name,
        "version": artifact.version,
        "labels": list(artifact.labels),
        "languages": list(artifact.languages),
        "max_length": artifact.max_length,
        "text_normalisation": artifact.text_normalisation,
        "calibration": artifact.calibration.to_json(),
        "thresholds": {label: float(artifact.thresholds[label]) for label in artifact.labels},
        "metadata": artifact.metadata,
    }
    (path / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def load_artifact(path: str | Path = DEFAULT_MODEL_DIR) -> ModelArtifact:
    """Read the artifact in directory `path` (empty: the shipped model): fp32 network on CPU in eval
    mode, tokenizer, calibration."""
    path = resources.model_dir(path)
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoTokenizer

    from abusewatch.scoring.model.network import AbuseClassifier
    from abusewatch.scoring.model.text import NormalisingTokenizer

    manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported artifact format {manifest.get('format_version')!r}")
    labels = tuple(manifest["labels"])
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    network = AbuseClassifier.from_config(config, num_labels=len(labels))
    state = {name: tensor.to(torch.float32) for name, tensor in load_file(str(path / WEIGHTS_FILE)).items()}
    network.load_state_dict(state, strict=True)
    network.eval()
    # Artifacts from before text normalisation existed read their text as it comes.
    normalisation = manifest.get("text_normalisation", "none")
    tokenizer = NormalisingTokenizer(AutoTokenizer.from_pretrained(str(path), local_files_only=True), normalisation)
    return ModelArtifact(
        name=manifest["name"],
        version=manifest["version"],
        labels=labels,
        network=network,
        tokenizer=tokenizer,
        max_length=int(manifest["max_length"]),
        calibration=PlattCalibration.from_json(manifest["calibration"]),
        thresholds={label: float(value) for label, value in manifest["thresholds"].items()},
        metadata=manifest.get("metadata", {}),
        languages=manifest_languages(manifest),
    )


def manifest_languages(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The languages an artifact's manifest says its model reads (lower-cased ISO 639-1 codes)."""
    languages = manifest.get("languages", LANGUAGES_BEFORE_THE_FIELD)
    if not isinstance(languages, list | tuple) or not languages or not all(isinstance(c, str) and c for c in languages):
        raise ValueError(f"abusewatch.json: 'languages' must be a non-empty list of language codes, got {languages!r}")
    return tuple(code.lower() for code in languages)
