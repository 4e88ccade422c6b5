"""How often the hostility rule layer fires, where its author's bias cannot help it (docs/detection.md,
"The hostility rule layer"): on the real posts of the shared datasets (gold-clean and abusive, per
set; TRAC-1 per raw label) and on a blind written set (`--blind DIR` holding hostile.jsonl and
negatives.jsonl, {"text", "style"} per line, written by an author who never saw the patterns).

    python -m abusewatch.offline.hostility_eval [--datasets-dir DIR] [--blind tests/data/hostility_blind]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
import orjson

from abusewatch.offline.data import DATASETS, LABEL_MAP, READERS, default_datasets_dir, map_labels
from abusewatch.scoring.hostility import detect_hostility

# Written, not real posts: their rates say nothing about real traffic.
_WRITTEN = frozenset({"threat_corpus"})


def real_post_rates(root: Path) -> dict:
    """Per shared dataset (all rows: the layer is not trained), the share of gold-clean and of
    abusive posts it fires on, and the pooled gold-clean rate."""
    per_set, clean_hits, clean_total = {}, 0, 0
    for name in DATASETS:
        if name in _WRITTEN:
            continue
        rows = READERS[name](root)
        targets, mask = map_labels(rows, LABEL_MAP[name])
        abusive = (targets * mask > 0.5).any(axis=1)
        hits = np.array([detect_hostility(row["text"]).detected for row in rows])
        clean, flagged = int((~abusive).sum()), int((hits & ~abusive).sum())
        per_set[name] = {"clean": clean, "clean_flagged": flagged, "abusive": int(abusive.sum()),
                         "abusive_flagged": int((hits & abusive).sum())}
        if name == "trac1_en":
            by_label: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
            for row, hit in zip(rows, hits):
                by_label[row["label"]][0] += 1
                by_label[row["label"]][1] += int(hit)
            per_set[name]["by_label"] = {label: {"posts": n, "flagged": k} for label, (n, k) in sorted(by_label.items())}
        if DATASETS[name].rows_of:  # an evaluation-only view of another set's rows: counted once
            continue
        clean_hits, clean_total = clean_hits + flagged, clean_total + clean
    return {"per_set": per_set, "clean_posts": clean_total, "clean_flagged": clean_hits,
            "clean_flag_rate": clean_hits / clean_total if clean_total else None}


def read_blind(folder: Path) -> tuple[list[dict], list[dict]]:
    def read(name: str) -> list[dict]:
        with (folder / name).open("rb") as handle:
            return [orjson.loads(line) for line in handle if line.strip()]

    return read("hostile.jsonl"), read("negatives.jsonl")


def blind_rates(folder: Path) -> dict:
    """Recall on the blind hostile replies and false-positive rate on its negatives, per style."""
    hostile, negatives = read_blind(folder)

    def per_style(rows: list[dict]) -> dict:
        counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for row in rows:
            counts[row["style"]][0] += 1
            counts[row["style"]][1] += int(detect_hostility(row["text"]).detected)
        return {style: {"posts": n, "flagged": k, "rate": k / n} for style, (n, k) in sorted(counts.items())}

    found = per_style(hostile)
    false = per_style(negatives)
    return {
        "hostile": {"posts": len(hostile), "flagged": sum(s["flagged"] for s in found.values()), "per_style": found},
        "negatives": {"posts": len(negatives), "flagged": sum(s["flagged"] for s in false.values()), "per_style": false},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets-dir", type=Path, default=None)
    parser.add_argument("--blind", type=Path, default=None, help="folder with hostile.jsonl and negatives.jsonl")
    args = parser.parse_args()
    report = {"real_posts": real_post_rates(args.datasets_dir or default_datasets_dir())}
    if args.blind is not None:
        report["blind"] = blind_rates(args.blind)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
