"""`abusewatch config`: every setting with its default, as Markdown (docs/configuration.md)."""

from __future__ import annotations

import argparse

from abusewatch.common import config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print docs/configuration.md")


def run(args: argparse.Namespace) -> int:
    print(config.markdown())
    return 0
