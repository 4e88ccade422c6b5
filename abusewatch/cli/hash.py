"""`abusewatch hash FILE...`: the posts/v1 `media` item of each file, one JSON line per file, for
platforms that cannot compute PDQ themselves (docs/media.md). Needs the `media` extra."""

from __future__ import annotations

import argparse
import sys

import orjson

from abusewatch.scoring.media.hashes import hash_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="image (or other media) files to hash")


def run(args: argparse.Namespace) -> int:
    try:
        import pdqhash  # noqa: F401
    except ImportError:
        print("abusewatch hash needs the media extra: pip install 'abusewatch[media]'", file=sys.stderr)
        return 2
    status = 0
    for path in args.files:
        try:
            item = hash_file(path)
        except OSError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        sys.stdout.write(orjson.dumps({"file": path, "media_item": item}).decode() + "\n")
    return status
