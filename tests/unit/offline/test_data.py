"""Label mapping, masking, hierarchy and splits of abusewatch.offline.data on hand-made rows."""

from __future__ import annotations

import numpy as np
import pytest

from abusewatch.scoring.labels import LABELS
from abusewatch.offline import data
from abusewatch.offline.data import DatasetSpec, LabelledTexts, Rule

T, THREAT, INSULT, IDENT, SEXH, OBSC = (LABELS.index(name) for name in LABELS)


def test_rule_values_map_to_positive_negative_or_masked():
    rules = {"threat": (Rule("cv", ("1",), ("0",)),)}
    targets, mask = data.map_labels([{"cv": "1"}, {"cv": "0"}, {"cv": "?"}], rules)
    assert targets[:, THREAT].tolist() == [1.0, 0.0, 0.0]
    assert mask[:, THREAT].tolist() == [1.0, 1.0, 0.0]
    # Labels the dataset does not annotate stay masked (toxicity only through the hierarchy).
    assert mask[1:, INSULT].tolist() == [0.0, 0.0]


def test_positive_from_any_rule_wins_over_negative_from_another():
    rules = {"threat": (Rule("a", (), ("x",)), Rule("b", ("y",)))}
    targets, mask = data.map_labels([{"a": "x", "b": "y"}, {"a": "x", "b": "n"}], rules)
    assert targets[:, THREAT].tolist() == [1.0, 0.0]
    assert mask[:, THREAT].tolist() == [1.0, 1.0]


def test_hierarchy_positive_sublabel_implies_toxicity_and_clean_implies_all_negative():
    rules = {"toxicity": (Rule("off", ("1",), ("0",)),), "insult": (Rule("ins", ("1",)),)}
    targets, mask = data.map_labels([{"off": "", "ins": "1"}, {"off": "0", "ins": ""}], rules)
    assert targets[0, T] == 1.0 and mask[0, T] == 1.0
    assert targets[1].tolist() == [0.0] * len(LABELS)
    assert mask[1].tolist() == [1.0] * len(LABELS)


def test_split_rows_keeps_official_splits_and_hashes_the_rest():
    rows = [{"text": f"post number {i}", "split": None} for i in range(2000)]
    rows += [{"text": "official dev post", "split": "dev"}, {"text": "   ", "split": "train"}]
    train, dev = data.split_rows(rows, DatasetSpec(holdout=0.15, train=True, note=""))
    assert {"text": "official dev post", "split": "dev"} in dev
    assert len(train) + len(dev) == 2001  # the blank text is dropped
    assert 0.12 < (len(dev) - 1) / 2000 < 0.18
    # Deterministic: the same text always lands on the same side.
    again_train, _ = data.split_rows(rows, DatasetSpec(holdout=0.15, train=True, note=""))
    assert [r["text"] for r in again_train] == [r["text"] for r in train]


def test_text_key_matches_tweeteval_and_olid_spellings():
    assert data.text_key("@USER Go home you’re drunk!!! URL") == data.text_key("@user Go home you’re drunk!!! ")


def test_merge_duplicates_averages_known_targets_and_unions_masks():
    def part(text, targets, mask):
        return LabelledTexts([text], np.array([targets], np.float32), np.array([mask], np.float32), ["x"])

    one_hot = [0.0] * len(LABELS)
    a_targets, a_mask = list(one_hot), list(one_hot)
    a_targets[IDENT], a_mask[IDENT] = 1.0, 1.0
    b_targets, b_mask = list(one_hot), list(one_hot)
    b_mask[IDENT], b_mask[THREAT], b_targets[THREAT] = 1.0, 1.0, 1.0
    merged = data.merge_duplicates({"a": part("Same text!", a_targets, a_mask), "b": part("same text", b_targets, b_mask)})
    assert len(merged) == 1
    assert merged.targets[0, IDENT] == pytest.approx(0.5)
    assert merged.targets[0, THREAT] == 1.0
    assert merged.mask[0, INSULT] == 0.0


def test_label_map_covers_every_dataset_and_only_known_labels():
    assert set(data.LABEL_MAP) == set(data.DATASETS) == set(data.READERS)
    for mapping in data.LABEL_MAP.values():
        assert set(mapping) <= set(LABELS)


def test_convabuse_majority_vote():
    row = {
        "Annotator1_is_abuse.-2": "1", "Annotator1_sex_harassment": "1", "Annotator1_racist": "0",
        "Annotator2_is_abuse.1": "1", "Annotator2_sex_harassment": "0",
        "Annotator3_is_abuse.-1": "1", "Annotator3_sex_harassment": "1",
        "Annotator4_is_abuse.1": "",  # did not annotate this turn
    }
    assert data._convabuse_votes(row) == {"abusive": "yes", "sex_harassment": "yes", "identity_abuse": "no"}


@pytest.mark.skipif(not data.default_datasets_dir().is_dir(), reason="shared datasets not present")
def test_real_splits_never_train_on_dev_text():
    train, dev = data.load_splits(names=["tweeteval_offensive", "olid", "implicit_hate_stg1", "implicit_hate_stg2"])
    dev_keys = {data.text_key(text) for part in dev.values() for text in part.texts}
    train_keys = {data.text_key(text) for part in train.values() for text in part.texts}
    assert not dev_keys & train_keys
    assert "tweeteval_offensive" not in train  # trained on through olid
    assert len(dev["tweeteval_offensive"]) == 1324
    threat = dev["implicit_hate_stg2"].targets[:, THREAT]
    assert threat.sum() > 50  # threatening + incitement


def test_hasoc_trac_and_threat_corpus_mappings():
    targets, mask = data.map_labels(
        [{"task_1": "HOF", "task_2": "PRFN"}, {"task_1": "NOT", "task_2": "NONE"}, {"task_1": "HOF", "task_2": "HATE"}],
        data.LABEL_MAP["hasoc2019_en"])
    assert targets[0, OBSC] == 1.0 and mask[0, INSULT] == 0.0  # profane: not known to insult
    assert targets[1].tolist() == [0.0] * len(LABELS) and mask[1].tolist() == [1.0] * len(LABELS)
    assert targets[2, T] == 1.0 and mask[2, IDENT] == 0.0  # HASOC's hate is not about groups
    targets, mask = data.map_labels([{"label": "OAG"}, {"label": "CAG"}, {"label": "NAG"}], data.LABEL_MAP["trac1_en"])
    assert targets[:, T].tolist() == [1.0, 0.0, 0.0] and mask[:, T].tolist() == [1.0, 0.0, 1.0]
    targets, mask = data.map_labels([{"label": "1"}, {"label": "0"}], data.LABEL_MAP["threat_corpus"])
    assert targets[0, THREAT] == 1.0 and targets[0, T] == 1.0  # a threat is abuse
    assert targets[1].tolist() == [0.0] * len(LABELS) and mask[1].tolist() == [1.0] * len(LABELS)


def test_threat_corpus_is_split_by_template_not_by_sentence():
    from abusewatch.offline.threat_corpus import rows as corpus_rows

    corpus = corpus_rows()
    read = data.READERS["threat_corpus"](None)
    assert [(row["text"], row["split"]) for row in read] == [(row["text"], row["split"]) for row in corpus]
    by_template: dict[str, set[str]] = {}
    for row in corpus:
        by_template.setdefault(str(row["template"]), set()).add(str(row["split"]))
    assert {"train", "dev"} == set().union(*by_template.values())
    assert all(len(splits) == 1 for splits in by_template.values())  # no template on both sides


def test_an_evaluation_only_dataset_counts_as_trained_on_through_the_one_it_repeats():
    spec = data.DATASETS["tweeteval_offensive"]
    assert spec.trained_in("tweeteval_offensive", {"olid", "edos"})
    assert not spec.trained_in("tweeteval_offensive", {"edos"})
    assert data.DATASETS["trac1_en"].trained_in("trac1_en", {"trac1_en"})


def test_pooled_dev_names_leave_out_evaluation_only_and_untrained_datasets():
    parts = {name: None for name in ("tweeteval_offensive", "olid", "trac1_en")}
    assert data.pooled_dev_names(parts) == ["olid", "trac1_en"]
    assert data.pooled_dev_names(parts, {"olid"}) == ["olid"]
