"""Language identification, measured: `python -m abusewatch.offline.bench.language [--json]`.

Reports what docs/model-card.md ("Languages") and docs/benchmarks.md quote, with the classifier's
own rule (abusewatch.scoring.language at its settings):
  - accuracy on the hand-written posts of ten other languages (abusewatch.offline.language_corpus),
    for posts of 20+ characters and for shorter ones;
  - the false-non-English rate on the TweetEval offensive validation tweets (real English posts,
    many of them slang) and on the hand-written English slang;
  - the cost per post in microseconds (median and mean over the tweets, and on long posts: the
    tweets joined into 1,000-character texts), one thread.
`abusewatch eval` prints the same measurement after the model's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from abusewatch.offline.language_corpus import ENGLISH_SLANG, POSTS
from abusewatch.scoring.language import DETECTED, LanguageIdentifier

MIN_CHARS_OF_THE_TARGET = 20  # the target: >= 95% on posts of 20+ characters
LONG_POST_CHARS = 1_000


def english_tweets(datasets_dir: Path) -> list[str]:
    path = datasets_dir / "tweeteval_offensive" / "val_text.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _microseconds(identifier: LanguageIdentifier, texts: list[str]) -> dict[str, float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        identifier.identify(text)
        times.append((time.perf_counter() - started) * 1e6)
    return {"median_us": round(statistics.median(times), 1), "mean_us": round(statistics.fmean(times), 1),
            "posts": len(texts)}


def measure(datasets_dir: Path, identifier: LanguageIdentifier | None = None) -> dict[str, Any]:
    identifier = identifier if identifier is not None else LanguageIdentifier(["en"])
    per_language: dict[str, dict[str, int]] = {}
    misses: list[dict[str, Any]] = []
    for expected, posts in POSTS.items():
        row = per_language.setdefault(expected, {"posts": 0, "correct": 0, "short_posts": 0, "short_correct": 0})
        for text in posts:
            found = identifier.identify(text)
            right = found.code == expected
            if len(text) >= MIN_CHARS_OF_THE_TARGET:
                row["posts"] += 1
                row["correct"] += right
            else:
                row["short_posts"] += 1
                row["short_correct"] += right
            if not right:
                misses.append({"text": text, "expected": expected, "got": found.code, "source": found.source})
    posts = sum(row["posts"] for row in per_language.values())
    correct = sum(row["correct"] for row in per_language.values())
    short = sum(row["short_posts"] for row in per_language.values())
    short_correct = sum(row["short_correct"] for row in per_language.values())

    tweets = english_tweets(datasets_dir)
    called_foreign = [(text, identifier.identify(text)) for text in tweets]
    called_foreign = [(text, found) for text, found in called_foreign if found.code != "en"]
    slang_foreign = [text for text in ENGLISH_SLANG if identifier.identify(text).code != "en"]
    sources: dict[str, int] = {}
    for text in tweets:
        source = identifier.identify(text).source
        sources[source] = sources.get(source, 0) + 1

    long_posts = []
    for start in range(0, len(tweets), 30):
        joined = " ".join(tweets[start : start + 30])[:LONG_POST_CHARS]
        if len(joined) == LONG_POST_CHARS:
            long_posts.append(joined)
    return {
        "settings": {"min_confidence": identifier.settings.min_confidence, "min_chars": identifier.settings.min_chars,
                     "supported": list(identifier.supported)},
        "other_languages": {
            "set": "abusewatch.offline.language_corpus (hand-written, 24 posts x 10 languages)",
            "accuracy_20_plus_chars": round(correct / posts, 4), "posts_20_plus_chars": posts,
            "accuracy_shorter": round(short_correct / short, 4) if short else None, "posts_shorter": short,
            "per_language": per_language, "misses": misses,
        },
        "english": {
            "set": "tweeteval_offensive val_text.txt",
            "tweets": len(tweets),
            "false_non_english": len(called_foreign),
            "false_non_english_rate": round(len(called_foreign) / len(tweets), 4),
            "examples": [{"text": text[:120], "got": found.code, "confidence": found.confidence, "source": found.source}
                         for text, found in called_foreign[:10]],
            "sources": sources,
            "slang_posts": len(ENGLISH_SLANG), "slang_false_non_english": len(slang_foreign),
        },
        "cost": {"short_tweets": _microseconds(identifier, tweets), "long_1000_chars": _microseconds(identifier, long_posts)},
        "detected_share_of_tweets": round(sources.get(DETECTED, 0) / len(tweets), 4),
    }


def format_report(result: dict[str, Any]) -> str:
    other, english, cost = result["other_languages"], result["english"], result["cost"]
    lines = [
        f"language ID (min_confidence {result['settings']['min_confidence']}, min_chars {result['settings']['min_chars']}, "
        f"model reads {','.join(result['settings']['supported'])}):",
        f"  accuracy on {other['posts_20_plus_chars']} hand-written posts of 20+ chars in 10 languages: "
        f"{other['accuracy_20_plus_chars']:.3f}; shorter ({other['posts_shorter']}): {other['accuracy_shorter']}",
        f"  false non-English on {english['tweets']} TweetEval offensive val tweets: {english['false_non_english']} "
        f"({english['false_non_english_rate']:.4f}); on {english['slang_posts']} hand-written slang posts: "
        f"{english['slang_false_non_english']}",
        f"  cost per post: {cost['short_tweets']['median_us']} us median on tweets, "
        f"{cost['long_1000_chars']['median_us']} us on 1,000-character posts",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from abusewatch.offline import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from abusewatch.common import config
    from abusewatch.scoring.language import LanguageSettings

    result = measure(args.datasets_dir or data.default_datasets_dir(), LanguageIdentifier(["en"], config.load(LanguageSettings)))
    if args.json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
