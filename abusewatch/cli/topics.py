"""`abusewatch topics`: create every topic with explicit partition counts (idempotent)."""

from __future__ import annotations

import argparse

from abusewatch.common import config
from abusewatch.ingest.topics import create_topics
from abusewatch.common.settings import KafkaSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create"])


def run(args: argparse.Namespace) -> int:
    kafka = config.load(KafkaSettings)
    created = create_topics(kafka)
    print(f"created {len(created)} topic(s) on {kafka.bootstrap}: {', '.join(created) or '(all existed)'}")
    return 0
