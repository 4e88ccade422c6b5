"""Training and development data: every labelled dataset in ../shared/datasets mapped onto LABELS.

Each dataset is read in its original format (`READERS`) into rows of strings with a `text`, a
`split` ("train", "dev", or None where the dataset has no official split) and its own label columns.
`LABEL_MAP` (below, as data) says which raw values of which columns make each of our labels
positive or negative; a label a dataset does not annotate stays masked (mask 0) and contributes no
loss. Two rules of our label hierarchy are then applied everywhere (`apply_label_hierarchy`):
any positive label makes toxicity positive, and a negative toxicity makes every label negative.

Dev splits: the official dev/val split where one exists; otherwise a fixed hold-out chosen by a
hash of the normalised text (independent of the training seed, so dev never moves). Any training
text whose normalised form appears in any dev split is dropped, which also keeps the TweetEval
offensive validation tweets (which are OLID training tweets) out of training.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abusewatch.scoring.labels import LABELS

# Some datasets hold single fields over the csv module's default 128 KiB limit.
csv.field_size_limit(2**31 - 1)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Hold-outs are drawn by hashing the text with this salt; changing it changes every dev split.
SPLIT_SALT = "abusewatch-dev-v1"


@dataclass(frozen=True)
class Rule:
    """Column `column` makes a label positive for `positive` values, negative for `negative` ones."""

    column: str
    positive: tuple[str, ...]
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """How a dataset is used: where its dev split comes from and whether it is trained on."""

    holdout: float  # dev fraction drawn by hash where the dataset has no official split
    train: bool  # False: evaluation only (its training rows come in through another dataset)
    note: str
    rows_of: str = ""  # the dataset whose rows it repeats (evaluation-only datasets)

    def trained_in(self, name: str, trained_on: set[str]) -> bool:
        """Whether a run that read `trained_on` saw this dataset's (training) rows."""
        return (self.rows_of or name) in trained_on


def default_datasets_dir() -> Path:
    """ABUSEWATCH_DATASETS_DIR, relative paths taken from the repository root."""
    from abusewatch.common.config import load
    from abusewatch.scoring.model.settings import ModelSettings

    return REPO_ROOT / load(ModelSettings).datasets_dir  # an absolute setting replaces REPO_ROOT


# ---------------------------------------------------------------------------------------------
# The label mapping. Values are the raw strings in each file; a value in neither list is masked.
# For one label, a positive from any rule wins over a negative from another.
LABEL_MAP: dict[str, dict[str, tuple[Rule, ...]]] = {
    # OLID subtask A = TweetEval offensive. Not offensive rules out every kind of abuse.
    "tweeteval_offensive": {
        "toxicity": (Rule("label", ("1",), ("0",)),),
    },
    "tweeteval_hate": {  # HatEval: hate against immigrants and women
        "identity_attack": (Rule("label", ("1",), ("0",)),),
    },
    # OLID subtask B: TIN = targeted insult *or threat*. Threats are a small minority of TIN, so
    # TIN counts as insult and threat stays unknown on offensive tweets; UNT = untargeted
    # profanity, i.e. obscene but not an insult.
    "olid": {
        "toxicity": (Rule("subtask_a", ("OFF",), ("NOT",)),),
        "insult": (Rule("subtask_b", ("TIN",), ("UNT",)),),
        "obscene": (Rule("subtask_b", ("UNT",)),),
    },
    "davidson2017": {  # class 0 hate speech, 1 offensive language, 2 neither
        "toxicity": (Rule("class", ("0", "1"), ("2",)),),
        "identity_attack": (Rule("class", ("0",), ("1",)),),
    },
    # EDOS: sexism. Not-sexist posts may still attack other groups, so only toxicity's and the
    # sexism-specific labels' negatives come from the sexist categories.
    "edos": {
        "identity_attack": (Rule("label_sexist", ("sexist",)),),
        "threat": (
            Rule(
                "label_category",
                ("1. threats, plans to harm and incitement",),
                ("2. derogation", "3. animosity", "4. prejudiced discussions"),
            ),
        ),
        "insult": (
            Rule(
                "label_vector",
                (
                    "2.1 descriptive attacks",
                    "2.2 aggressive and emotive attacks",
                    "3.1 casual use of gendered slurs, profanities, and insults",
                ),
                (
                    "3.2 immutable gender differences and gender stereotypes",
                    "3.3 backhanded gendered compliments",
                    "3.4 condescending explanations or unwelcome advice",
                    "4.1 supporting mistreatment of individual women",
                    "4.2 supporting systemic discrimination against women as a group",
                ),
            ),
        ),
        "sexual_harassment": (
            Rule(
                "label_vector",
                ("2.3 dehumanising attacks & overt sexual objectification",),
                ("none",),
            ),
        ),
    },
    # Gab Hate Corpus: hd = assault on human dignity, cv = call for violence, vo = vulgar/offensive.
    "gab_hate_corpus": {
        "toxicity": (Rule("hd", ("1",), ("0",)), Rule("cv", ("1",), ("0",)), Rule("vo", ("1",), ("0",))),
        "identity_attack": (Rule("hd", ("1",), ("0",)),),
        "threat": (Rule("cv", ("1",), ("0",)),),
        "obscene": (Rule("vo", ("1",), ("0",)),),
    },
    # Latent Hatred stage 1; not_hate posts come from extremist accounts and may still be rude.
    "implicit_hate_stg1": {
        "identity_attack": (Rule("class", ("explicit_hate", "implicit_hate"), ("not_hate",)),),
    },
    # Latent Hatred stage 2 (implicit hate only): threatening and incitement are the violent classes.
    "implicit_hate_stg2": {
        "identity_attack": (Rule("implicit_class", ("threatening", "incitement", "white_grievance",
                                                    "stereotypical", "inferiority", "irony", "other")),),
        "threat": (
            Rule(
                "implicit_class",
                ("threatening", "incitement"),
                ("white_grievance", "stereotypical", "inferiority", "irony", "other"),
            ),
            Rule("extra_implicit_class", ("threatening", "incitement")),
        ),
    },
    "hatexplain": {  # category 0 normal, 1 hate speech, 2 offensive
        "toxicity": (Rule("category", ("1", "2"), ("0",)),),
        "identity_attack": (Rule("category", ("1",), ("2",)),),
    },
    # ConvAbuse: majority vote over the annotators of each user turn (derived in the reader).
    "convabuse": {
        "toxicity": (Rule("abusive", ("yes",), ("no",)),),
        "sexual_harassment": (Rule("sex_harassment", ("yes",), ("no",)),),
        "identity_attack": (Rule("identity_abuse", ("yes",), ("no",)),),
    },
    # Guest et al. 2021 Reddit misogyny. Non-misogynistic entries were still annotated for
    # personal attacks and counter speech; threats only inside misogyny (level_3).
    "reddit_misogyny_guest2021": {
        "identity_attack": (Rule("level_1", ("Misogynistic",), ("Nonmisogynistic",)),),
        "insult": (
            Rule(
                "level_2",
                ("Misogynistic_personal_attack", "Nonmisogynistic_personal_attack"),
                ("None_of_the_categories", "Counter_speech"),
            ),
        ),
        "threat": (
            Rule("level_3", ("Threatening_Physical_violence",)),
            Rule(
                "level_2",
                (),
                ("Derogation", "Misogynistic_pejorative", "None_of_the_categories", "Counter_speech",
                 "Misogynistic_personal_attack", "Nonmisogynistic_personal_attack"),
            ),
        ),
    },
    # HASOC 2019 English: task_1 hate/offensive/profane or not; task_2 which of the three. NOT rules
    # out every label (through the hierarchy); within HOF only the named kind is known. Its HATE
    # includes political opinion and is mostly abuse of individuals (politicians), not of a
    # protected group, so it says nothing about identity_attack.
    "hasoc2019_en": {
        "toxicity": (Rule("task_1", ("HOF",), ("NOT",)),),
        "insult": (Rule("task_2", ("OFFN",)),),
        "obscene": (Rule("task_2", ("PRFN",)),),
    },
    # TRAC-1 English (Facebook): overt aggression is abusive, none is not; covert aggression is
    # neither here (sarcasm and insinuation the labels of this product do not name).
    "trac1_en": {
        "toxicity": (Rule("label", ("OAG",), ("NAG",)),),
    },
    # The project's written corpus of direct threats against a person and their hard negatives
    # (abusewatch/offline/threat_corpus.py): figurative violence, games, invitations, negation,
    # news, fiction, quoting and reporting are neither threats nor abuse.
    "threat_corpus": {
        "toxicity": (Rule("label", (), ("0",)),),
        "threat": (Rule("label", ("1",), ("0",)),),
    },
    # "Call me sexist but": benevolent sexism is sexist but not an attack, so it stays unknown.
    # The file's `toxicity` column is a Perspective API score (a model, not people): not used.
    "call_me_sexist_but": {
        "identity_attack": (Rule("sexism", ("hostile",), ("none",)),),
    },
}

DATASETS: dict[str, DatasetSpec] = {
    "tweeteval_offensive": DatasetSpec(0.0, False, "evaluation only: its tweets are trained on through olid", "olid"),
    "tweeteval_hate": DatasetSpec(0.0, True, "official train/val"),
    "olid": DatasetSpec(0.0, True, "dev = the tweets of TweetEval offensive val"),
    "davidson2017": DatasetSpec(0.1, True, "no official split: 10% hashed hold-out"),
    "edos": DatasetSpec(0.0, True, "official train/dev"),
    "gab_hate_corpus": DatasetSpec(0.15, True, "no official split: 15% hashed hold-out"),
    "implicit_hate_stg1": DatasetSpec(0.15, True, "no official split: 15% hashed hold-out"),
    "implicit_hate_stg2": DatasetSpec(0.15, True, "same hash as stage 1, so a post falls on the same side"),
    "hatexplain": DatasetSpec(0.0, True, "official train/val"),
    "convabuse": DatasetSpec(0.0, True, "official train/valid"),
    "reddit_misogyny_guest2021": DatasetSpec(0.15, True, "only a train split here: 15% hashed hold-out"),
    "call_me_sexist_but": DatasetSpec(0.15, True, "no official split: 15% hashed hold-out"),
    "hasoc2019_en": DatasetSpec(0.15, True, "only the training file here: 15% hashed hold-out"),
    "trac1_en": DatasetSpec(0.0, True, "official train/dev"),
    "threat_corpus": DatasetSpec(0.0, True, "written here; split by template (a third of each family to dev)"),
}


# ---------------------------------------------------------------------------------------------
# Text keys and hashed splits.


def text_key(text: str) -> str:
    """Normalised text for matching one post across datasets (TweetEval lowercases @USER, ...)."""
    lowered = text.lower().replace("@user", " ").replace("url", " ")
    key = re.sub(r"[^a-z0-9]+", "", lowered)
    return key or text.strip()


def text_digest(salt: str, text: str) -> bytes:
    """SHA-256 of the salted normalised text: a post's side of any split by text (the same post in
    two datasets, or twice in one, always falls on the same side)."""
    return hashlib.sha256(f"{salt}:{text_key(text)}".encode()).digest()


def in_holdout(text: str, fraction: float) -> bool:
    return int.from_bytes(text_digest(SPLIT_SALT, text)[:8], "big") / 2**64 < fraction


# ---------------------------------------------------------------------------------------------
# Readers: each returns rows {"text", "split", <label columns>} with split in train/dev/None.


def _read_delimited(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _read_tweeteval(folder: Path) -> list[dict[str, str]]:
    rows = []
    for file_split, split in (("train", "train"), ("val", "dev")):
        texts = _read_lines(folder / f"{file_split}_text.txt")
        labels = _read_lines(folder / f"{file_split}_labels.txt")
        rows += [{"text": t, "split": split, "label": y.strip()} for t, y in zip(texts, labels, strict=True)]
    return rows


def _read_olid(root: Path) -> list[dict[str, str]]:
    dev_keys = {text_key(t) for t in _read_lines(root / "tweeteval_offensive" / "val_text.txt")}
    rows = _read_delimited(root / "olid" / "olid-training-v1.0.tsv", "\t")
    return [
        {**row, "text": row["tweet"], "split": "dev" if text_key(row["tweet"]) in dev_keys else "train"}
        for row in rows
    ]


def _read_davidson(root: Path) -> list[dict[str, str]]:
    return [{**row, "text": row["tweet"], "split": None} for row in _read_delimited(root / "davidson2017" / "labeled_data.csv")]


def _read_edos(root: Path) -> list[dict[str, str]]:
    rows = _read_delimited(root / "edos" / "edos_labelled_train_dev.csv")
    return [{**row, "split": "dev" if row["split"] == "dev" else "train"} for row in rows]


def _read_gab(root: Path) -> list[dict[str, str]]:
    return [{**row, "split": None} for row in _read_delimited(root / "gab_hate_corpus" / "ghc_train.tsv", "\t")]


def _read_implicit(root: Path, stage: int) -> list[dict[str, str]]:
    path = root / "implicit_hate" / f"implicit_hate_v1_stg{stage}_posts.tsv"
    return [{**row, "text": row["post"], "split": None} for row in _read_delimited(path, "\t")]


def _read_hatexplain(root: Path) -> list[dict[str, str]]:
    rows = _read_delimited(root / "hatexplain" / "hatexplain_train_val.csv")
    return [{**row, "split": "dev" if row["split"] == "val" else "train"} for row in rows]


_CONVABUSE_IDENTITY = ("racist", "sexist", "homophobic", "transphobic", "ableist")


def _convabuse_votes(row: dict[str, str]) -> dict[str, str]:
    """Majority over the annotators who labelled the turn: abusive = severity -1..-3."""
    annotators = sorted({key.split("_", 1)[0] for key in row if key.startswith("Annotator")})
    abusive = harassment = identity = voters = 0
    for annotator in annotators:
        severity = [level for level in ("1", "0", "-1", "-2", "-3") if row.get(f"{annotator}_is_abuse.{level}") == "1"]
        if not severity:
            continue
        voters += 1
        abusive += severity[0] in ("-1", "-2", "-3")
        harassment += row.get(f"{annotator}_sex_harassment") == "1"
        identity += any(row.get(f"{annotator}_{kind}") == "1" for kind in _CONVABUSE_IDENTITY)

    def vote(count: int) -> str:
        return "" if voters == 0 else ("yes" if 2 * count > voters else "no")

    return {"abusive": vote(abusive), "sex_harassment": vote(harassment), "identity_abuse": vote(identity)}


def _read_convabuse(root: Path) -> list[dict[str, str]]:
    rows = []
    for file_name, split in (("ConvAbuseEMNLPtrain.csv", "train"), ("ConvAbuseEMNLPvalid.csv", "dev")):
        for row in _read_delimited(root / "convabuse" / file_name):
            rows.append({"text": row["user"], "split": split, **_convabuse_votes(row)})
    return rows


def _read_reddit_misogyny(root: Path) -> list[dict[str, str]]:
    rows = _read_delimited(root / "reddit_misogyny_guest2021" / "final_labels_train.csv")
    return [
        {**row, "text": row["body"], "split": None}
        for row in rows
        if row["body"].strip() not in ("", "[deleted]", "[removed]")
    ]


def _read_hasoc(root: Path) -> list[dict[str, str]]:
    return [{**row, "split": None} for row in _read_delimited(root / "hasoc2019_en" / "train.tsv", "\t")]


def _read_trac(root: Path) -> list[dict[str, str]]:
    rows = []
    for file_split, split in (("train", "train"), ("dev", "dev")):  # no header: id,text,label
        with (root / "trac1_en" / f"{file_split}.csv").open(encoding="utf-8", newline="") as handle:
            rows += [{"text": text, "split": split, "label": label.strip()}
                     for _, text, label in csv.reader(handle)]
    return rows


def _read_threat_corpus(root: Path) -> list[dict[str, str]]:
    """Generated, not read: the corpus is its recipe (deterministic); `root` is not used."""
    from abusewatch.offline.threat_corpus import rows

    return [{"text": str(row["text"]), "split": str(row["split"]), "label": str(row["label"]),
             "family": str(row["family"])} for row in rows()]


def _read_call_me_sexist(root: Path) -> list[dict[str, str]]:
    rows = _read_delimited(root / "call_me_sexist_but" / "sexism_data.csv")
    out = []
    for row in rows:
        sexist = row["sexist"] == "True"
        kind = "none" if not sexist else ("benevolent" if row["dataset"] == "benevolent" else "hostile")
        out.append({"text": row["text"], "split": None, "sexism": kind})
    return out


READERS: dict[str, Callable[[Path], list[dict[str, str]]]] = {
    "tweeteval_offensive": lambda root: _read_tweeteval(root / "tweeteval_offensive"),
    "tweeteval_hate": lambda root: _read_tweeteval(root / "tweeteval_hate"),
    "olid": _read_olid,
    "davidson2017": _read_davidson,
    "edos": _read_edos,
    "gab_hate_corpus": _read_gab,
    "implicit_hate_stg1": lambda root: _read_implicit(root, 1),
    "implicit_hate_stg2": lambda root: _read_implicit(root, 2),
    "hatexplain": _read_hatexplain,
    "convabuse": _read_convabuse,
    "reddit_misogyny_guest2021": _read_reddit_misogyny,
    "call_me_sexist_but": _read_call_me_sexist,
    "hasoc2019_en": _read_hasoc,
    "trac1_en": _read_trac,
    "threat_corpus": _read_threat_corpus,
}


# ---------------------------------------------------------------------------------------------
# Mapping rows onto LABELS.


@dataclass
class LabelledTexts:
    """Texts with targets [N, L] and mask [N, L] (1 where the label is known), float32."""

    texts: list[str]
    targets: np.ndarray
    mask: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, dict[str, int]]:
        return {
            label: {
                "known": int(self.mask[:, i].sum()),
                "positive": int((self.targets[:, i] * self.mask[:, i] > 0.5).sum()),
            }
            for i, label in enumerate(LABELS)
        }


def drop_negatives(part: LabelledTexts, labels: Iterable[str]) -> LabelledTexts:
    """`part` with its negative targets for `labels` made unknown (positives kept).

    For training only: where a dataset's negatives contradict another's definition of a label (Gab
    Hate Corpus marks profane, insulting posts without hate "none", OLID calls them offensive), its
    negatives can be left out of the loss while its positives still teach the label.
    """
    mask = part.mask.copy()
    for label in labels:
        column = LABELS.index(label)
        mask[part.targets[:, column] < 0.5, column] = 0.0
    return LabelledTexts(part.texts, part.targets, mask, part.sources)


def map_labels(rows: Iterable[dict[str, str]], rules: dict[str, tuple[Rule, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Targets and mask [N, len(LABELS)] for `rows` under `rules`, hierarchy applied."""
    rows = list(rows)
    targets = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    mask = np.zeros_like(targets)
    for column, label in enumerate(LABELS):
        for rule in rules.get(label, ()):
            values = [row.get(rule.column, "") for row in rows]
            positive = np.fromiter((v in rule.positive for v in values), bool, len(rows))
            negative = np.fromiter((v in rule.negative for v in values), bool, len(rows))
            # A positive from any rule wins; a negative only fills labels not yet known.
            targets[positive, column] = 1.0
            mask[positive | negative, column] = 1.0
    return apply_label_hierarchy(targets, mask)


def apply_label_hierarchy(targets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Toxicity is any abuse: a positive sub-label implies toxicity; toxicity 0 implies all 0."""
    toxicity = LABELS.index("toxicity")
    targets, mask = targets.copy(), mask.copy()
    any_positive = ((targets * mask) > 0.5).any(axis=1)
    targets[any_positive, toxicity] = 1.0
    mask[any_positive, toxicity] = 1.0
    clean = (mask[:, toxicity] > 0) & (targets[:, toxicity] < 0.5)
    targets[clean] = 0.0
    mask[clean] = 1.0
    return targets, mask


def split_rows(rows: list[dict[str, str]], spec: DatasetSpec) -> tuple[list[dict], list[dict]]:
    """(train rows, dev rows): the official split, else the hashed hold-out. Empty texts dropped."""
    train, dev = [], []
    for row in rows:
        if not row["text"].strip():
            continue
        split = row["split"] or ("dev" if in_holdout(row["text"], spec.holdout) else "train")
        (dev if split == "dev" else train).append(row)
    return train, dev


def _labelled(rows: list[dict[str, str]], name: str) -> LabelledTexts:
    targets, mask = map_labels(rows, LABEL_MAP[name])
    return LabelledTexts([row["text"] for row in rows], targets, mask, [name] * len(rows))


def load_splits(
    root: str | Path | None = None, names: Iterable[str] | None = None
) -> tuple[dict[str, LabelledTexts], dict[str, LabelledTexts]]:
    """(train, dev) per dataset. Training texts that appear in any dev split are removed."""
    root = Path(root) if root is not None else default_datasets_dir()
    names = list(names or DATASETS)
    train_rows, dev_rows = {}, {}
    for name in names:
        train_rows[name], dev_rows[name] = split_rows(READERS[name](root), DATASETS[name])
    dev_keys = {text_key(row["text"]) for rows in dev_rows.values() for row in rows}
    train = {
        name: _labelled([row for row in rows if text_key(row["text"]) not in dev_keys], name)
        for name, rows in train_rows.items()
        if DATASETS[name].train
    }
    dev = {name: _labelled(rows, name) for name, rows in dev_rows.items()}
    return train, dev


def pooled_dev_names(dev_parts: dict[str, LabelledTexts], trained_on: set[str] | None = None) -> list[str]:
    """Dev splits to pool for calibration and pooled metrics: an evaluation-only dataset repeats
    the rows of a trained one (TweetEval offensive val = OLID dev), so it is left out; and with
    `trained_on` (what a model's training runs read), so is every dataset outside it."""
    return [name for name in dev_parts
            if DATASETS[name].train and (trained_on is None or DATASETS[name].trained_in(name, trained_on))]


def merge_duplicates(parts: dict[str, LabelledTexts]) -> LabelledTexts:
    """One example per normalised text: known targets averaged (soft labels where sources disagree)."""
    index: dict[str, int] = {}
    texts, sources, target_sums, known_counts = [], [], [], []
    for name, part in parts.items():
        for text, target, known in zip(part.texts, part.targets, part.mask, strict=True):
            key = text_key(text)
            if key not in index:
                index[key] = len(texts)
                texts.append(text)
                sources.append(name)
                target_sums.append(np.zeros(len(LABELS), np.float32))
                known_counts.append(np.zeros(len(LABELS), np.float32))
            at = index[key]
            target_sums[at] += target * known
            known_counts[at] += known
    sums, counts = np.array(target_sums), np.array(known_counts)
    targets = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return LabelledTexts(texts, targets.astype(np.float32), (counts > 0).astype(np.float32), sources)

