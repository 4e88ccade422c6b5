"""Compare detector settings on one stream: `python -m abusewatch.offline.compare_settings
FILE --setting NAME --values A,B[,...] [--separator ';']` replays FILE (post-scores/v1 JSONL, with its truth.jsonl
beside it) once per value, in one process, and prints one JSON line
per value: false campaigns, recall and delay, and per episode kind what was found or alerted. Every
other setting is read from the environment, as the detector service reads it. The file is read
again for each value rather than held decoded: a 24-hour stream of 4 million posts would take
about 17 GB."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from abusewatch.common import config
from abusewatch.detection.settings import DetectorSettings
from abusewatch.offline.evaluate_detection import score_alerts
from abusewatch.offline.replay import read_messages, read_truth, replay, scan_truth


def compare(stream: Path, truth_path: Path, setting: str, values: list[str], slack_s: float = 600.0) -> list[dict]:
    field = {f.name: f for f in dataclasses.fields(DetectorSettings)}.get(setting)
    if field is None:
        raise SystemExit(f"no detector setting {setting!r}; see docs/configuration.md (DetectorSettings)")
    env = field.metadata["env"]  # values are read as the environment variable would be
    truth = read_truth(truth_path)
    benign, crowd = scan_truth(stream, truth, slack_s)
    rows = []
    for value in values:
        settings = config.load(DetectorSettings, env={**os.environ, env: value})
        result = replay(read_messages(stream, None), settings)
        evaluation = score_alerts(result.alerts, truth, benign, slack_s, crowd)
        rows.append({
            setting: getattr(settings, setting),
            "detector_posts_per_s": round(result.posts / result.detector_s) if result.detector_s else None,
            "false_campaigns": evaluation["false_campaigns"],
            "false_alerts_per_million_benign_posts": evaluation["false_alerts_per_million_benign_posts"],
            "recall": evaluation["recall"],
            "delay_s_median": evaluation["delay_s_median"],
            "delay_s_p95": evaluation["delay_s_p95"],
            "delay_posts_median": evaluation["delay_posts_median"],
            "bursts": evaluation["bursts"],
            "per_kind": {
                name: {key: row[key] for key in ("detected", "episodes", "delay_s_median", "delay_s_p95",
                                                 "delay_posts_median", "episodes_alerted") if key in row}
                for name, row in evaluation["per_kind"].items()
            },
            "false_campaign_examples": evaluation["false_campaign_examples"],
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--truth", type=Path, help="ground truth JSONL (default: truth.jsonl beside FILE)")
    parser.add_argument("--setting", required=True, help="a DetectorSettings field, e.g. max_uncoordinated_share_p")
    parser.add_argument("--values", required=True, help="values split by --separator, the current default among them")
    parser.add_argument("--separator", default=",",
                        help="what splits --values (default ','; use ';' for a per-window setting such as "
                             "coordinated_min_abusive_posts, whose values are comma-separated lists)")
    args = parser.parse_args()
    values = args.values.split(args.separator)
    for row in compare(args.file, args.truth or args.file.parent / "truth.jsonl", args.setting, values):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
