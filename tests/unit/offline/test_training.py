"""Training helpers: masked loss, dataset sampling shares, time-aware schedule."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from abusewatch.scoring.labels import LABELS
from abusewatch.offline.data import LabelledTexts, drop_negatives
from abusewatch.offline.train import (
    distillation_loss,
    kept_layers,
    length_grouped_batches,
    masked_bce,
    parse_dataset_weights,
    parse_label_lists,
    sampling_probabilities,
    schedule_factor,
    training_progress,
    truncate_encoder,
)


def test_masked_bce_ignores_unknown_labels():
    logits = torch.tensor([[2.0, -50.0], [0.0, 50.0]])
    targets = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # the masked entries would be huge losses
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.log(torch.tensor(2.0))) / 2
    assert masked_bce(logits, targets, mask).item() == pytest.approx(expected.item(), rel=1e-5)


def test_dataset_shares_follow_size_to_the_power():
    sources = ["big"] * 400 + ["small"] * 100
    probabilities = sampling_probabilities(sources, 0.5)
    assert probabilities.sum() == pytest.approx(1.0)
    big_share = probabilities[:400].sum()
    assert big_share == pytest.approx(20 / 30)  # sqrt(400) : sqrt(100)
    assert np.allclose(probabilities[:400], probabilities[0])


def test_dataset_weights_multiply_a_share():
    sources = ["big"] * 400 + ["small"] * 100
    probabilities = sampling_probabilities(sources, 0.5, dataset_weights={"small": 2.0})
    assert probabilities[400:].sum() == pytest.approx(20 / 40)  # sqrt(100) * 2 : sqrt(400)
    assert parse_dataset_weights("olid=3, tweeteval_hate=1.5") == {"olid": 3.0, "tweeteval_hate": 1.5}
    for bad in ("olid", "olid=x", "olid=0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_dataset_weights(bad)


def test_dropped_negatives_become_unknown_and_positives_stay():
    toxicity, insult = LABELS.index("toxicity"), LABELS.index("insult")
    targets = np.zeros((3, len(LABELS)), dtype=np.float32)
    targets[0, [toxicity, insult]] = 1.0  # row 0 positive, rows 1 and 2 negative for both
    mask = np.ones_like(targets)
    mask[2, insult] = 0.0  # already unknown
    part = LabelledTexts(["a", "b", "c"], targets, mask, ["gab_hate_corpus"] * 3)
    dropped = drop_negatives(part, ["toxicity"])
    assert dropped.mask[:, toxicity].tolist() == [1.0, 0.0, 0.0]
    assert dropped.mask[:, insult].tolist() == [1.0, 1.0, 0.0]  # labels not named are untouched
    assert part.mask[1, toxicity] == 1.0  # the input is not modified
    assert parse_label_lists("gab_hate_corpus=toxicity+insult") == {"gab_hate_corpus": ["toxicity", "insult"]}
    for bad in ("gab_hate_corpus", "gab_hate_corpus=", "gab_hate_corpus=rudeness"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_label_lists(bad)


def test_length_grouped_batches_draw_the_same_rows_with_less_padding():
    lengths = np.random.default_rng(0).integers(5, 65, size=1000)
    probabilities = np.full(1000, 1 / 1000)

    def first_batches(group):
        batches = length_grouped_batches(np.random.default_rng(7), probabilities, lengths, 32, group)
        return [next(batches) for _ in range(16)]

    ungrouped, grouped = first_batches(1), first_batches(16)
    drawn = np.random.default_rng(7).choice(1000, size=32 * 16, p=probabilities)
    assert sorted(np.concatenate(grouped)) == sorted(drawn)
    assert all(len(batch) == 32 for batch in grouped)

    def padded_tokens(batches):
        return sum(len(batch) * lengths[batch].max() for batch in batches)

    assert padded_tokens(grouped) < 0.7 * padded_tokens(ungrouped)


def test_positives_of_rare_labels_are_boosted():
    sources = ["only"] * 100
    targets = np.zeros((100, 2), np.float32)
    targets[:50, 0] = 1.0  # common label: 50% positive
    targets[50, 1] = 1.0  # rare label: 1% positive
    mask = np.ones_like(targets)
    probabilities = sampling_probabilities(sources, 0.5, targets, mask, rare_rate=0.05, rare_boost=4.0)
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[50] == pytest.approx(4 * probabilities[0])
    assert probabilities[0] == pytest.approx(probabilities[99])


def test_schedule_warms_up_decays_to_zero_and_follows_the_time_budget():
    assert schedule_factor(0.05, 0.1) == pytest.approx(0.5)
    assert schedule_factor(0.1, 0.1) == pytest.approx(1.0)
    assert schedule_factor(0.55, 0.1) == pytest.approx(0.5)
    assert schedule_factor(1.0, 0.1) == 0.0
    assert training_progress(10, 100, elapsed_s=30, budget_s=60) == pytest.approx(0.5)
    assert training_progress(80, 100, elapsed_s=30, budget_s=60) == pytest.approx(0.8)
    assert training_progress(10, 100, elapsed_s=1e6, budget_s=None) == pytest.approx(0.1)


def test_a_student_keeps_evenly_spaced_layers_with_the_first_and_the_last():
    assert kept_layers(6, 3) == [0, 2, 5]
    assert kept_layers(6, 2) == [0, 5]
    assert kept_layers(6, 1) == [5]
    assert kept_layers(6, 6) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        kept_layers(6, 7)
    with pytest.raises(ValueError):
        kept_layers(6, 0)


def test_a_truncated_encoder_is_the_parent_s_kept_layers_and_saves_as_the_smaller_network(tmp_path):
    from abusewatch.scoring.model.artifact import load_artifact, save_artifact
    from abusewatch.scoring.model.network import AbuseClassifier

    parent = load_artifact()
    layers_before = list(parent.network.encoder.encoder.layer)
    kept = truncate_encoder(parent.network, 3)
    assert [parent.network.encoder.encoder.layer[i] is layers_before[k] for i, k in enumerate(kept)] == [True] * 3
    save_artifact(parent, tmp_path / "student")
    student = load_artifact(tmp_path / "student")
    assert isinstance(student.network, AbuseClassifier)
    assert student.network.encoder.config.num_hidden_layers == 3
    assert len(student.network.encoder.encoder.layer) == 3
    ids = torch.tensor([[101, 7592, 2088, 102]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        before = parent.network.eval()(ids, mask)
        after = student.network.eval()(ids, mask)
    assert torch.allclose(before, after, atol=0.05)  # the same weights, stored in bf16


def test_distillation_loss_is_smallest_at_the_teacher_s_probabilities():
    teacher = torch.tensor([[0.9, 0.1, 0.5]])
    at_teacher = distillation_loss(torch.logit(teacher), teacher)
    elsewhere = distillation_loss(torch.logit(torch.tensor([[0.6, 0.3, 0.5]])), teacher)
    assert at_teacher.item() < elsewhere.item()
