"""Artifact save/load roundtrip with the real MiniLM encoder: bf16 file, fp32 network, same outputs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.model.artifact import MANIFEST_FILE, ModelArtifact, WEIGHTS_FILE, load_artifact, save_artifact
from abusewatch.scoring.model.calibration import PlattCalibration
from abusewatch.scoring.model.network import AbuseClassifier, pretrained_encoder_dir

TEXTS = ["I will find you and hurt you", "have a nice day"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    network = AbuseClassifier.from_pretrained_encoder().eval()
    tokenizer = AutoTokenizer.from_pretrained(str(pretrained_encoder_dir()), local_files_only=True)
    artifact = ModelArtifact(
        name="roundtrip",
        version="0.0.1",
        labels=LABELS,
        network=network,
        tokenizer=tokenizer,
        max_length=64,
        calibration=PlattCalibration(slopes=tuple(np.linspace(0.5, 1.5, len(LABELS))), intercepts=(0.1,) * len(LABELS)),
        thresholds={label: 0.5 + i / 100 for i, label in enumerate(LABELS)},
        metadata={"recipe": {"steps": 0}},
    )
    path = save_artifact(artifact, tmp_path_factory.mktemp("artifact") / "model")
    return artifact, path


def logits_of(network, tokenizer, texts):
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        return network(encoded["input_ids"], encoded["attention_mask"]).numpy()


def test_weights_file_is_all_bf16_and_under_50_mb(saved):
    from safetensors import safe_open

    _, path = saved
    assert (path / WEIGHTS_FILE).stat().st_size < 50 * 1024 * 1024
    with safe_open(str(path / WEIGHTS_FILE), framework="pt") as weights:
        names = list(weights.keys())
        assert "head.weight" in names and any(name.startswith("encoder.") for name in names)
        assert {weights.get_tensor(name).dtype for name in names} == {torch.bfloat16}
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["labels"] == list(LABELS)


def test_loaded_artifact_matches_the_saved_one(saved):
    original, path = saved
    loaded = load_artifact(path)
    assert (loaded.name, loaded.version, loaded.labels, loaded.max_length) == ("roundtrip", "0.0.1", LABELS, 64)
    assert loaded.calibration == original.calibration
    assert loaded.thresholds == original.thresholds
    assert loaded.metadata == original.metadata
    assert not loaded.network.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in loaded.network.parameters())
    assert loaded.tokenizer.is_fast

    reloaded_logits = logits_of(loaded.network, loaded.tokenizer, TEXTS)
    assert reloaded_logits.shape == (len(TEXTS), len(LABELS))
    # Exactly the original network with its weights rounded to bf16 ...
    rounded = AbuseClassifier.from_config(original.network.encoder.config).eval()
    rounded.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in original.network.state_dict().items()})
    np.testing.assert_allclose(reloaded_logits, logits_of(rounded, original.tokenizer, TEXTS), atol=1e-5)
    # ... and close to the fp32 original.
    np.testing.assert_allclose(reloaded_logits, logits_of(original.network, original.tokenizer, TEXTS), atol=0.05)


def test_text_normalisation_travels_with_the_artifact(saved, tmp_path):
    from abusewatch.scoring.model.text import NormalisingTokenizer

    original, path = saved
    assert load_artifact(path).text_normalisation == "none"  # saved with a plain tokenizer
    normalising = dataclasses.replace(original, tokenizer=NormalisingTokenizer(original.tokenizer, "mentions-emoji-v1"))
    normalised_path = save_artifact(normalising, tmp_path / "normalised")
    assert json.loads((normalised_path / MANIFEST_FILE).read_text())["text_normalisation"] == "mentions-emoji-v1"
    loaded = load_artifact(normalised_path)
    assert loaded.text_normalisation == "mentions-emoji-v1"
    expected = original.tokenizer("@user hi face with tears of joy")["input_ids"]
    assert loaded.tokenizer("@a @b hi 😂")["input_ids"] == expected
