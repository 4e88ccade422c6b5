"""The `abusewatch` command. Each subcommand lives in its own module, imported only when used.

A subcommand module defines `add_arguments(parser)` and `run(args) -> int`. Adding a command means
writing that module and naming it in COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

LOG_FORMATS = ("json", "text")

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("abusewatch.cli.run", "start the broker (unless KAFKA_BOOTSTRAP is set) and every service"),
    "serve": ("abusewatch.services.serve", "run one service role: classifier, detector, actions or api"),
    "topics": ("abusewatch.cli.topics", "create every topic with explicit partition counts"),
    "demo": ("abusewatch.offline.demo", "replay a small stream with one pile-on and print what comes out"),
    "train": ("abusewatch.offline.train", "fine-tune the multi-label abuse model on ../shared/datasets"),
    "train-first-pass": ("abusewatch.offline.first_pass", "train the cascade's first pass on the transformer's flags"),
    "eval": ("abusewatch.offline.evaluate_model", "evaluate the shipped model against baselines"),
    "bench": ("abusewatch.offline.bench.inference", "benchmark the inference engine and the pipeline"),
    "simulate": ("abusewatch.offline.simulate", "generate a scenario stream with ground-truth campaigns"),
    "replay": ("abusewatch.offline.replay", "run the pile-on detector over a file and score it"),
    "threat-corpus": ("abusewatch.offline.threat_corpus", "write the personal-threat corpus (train.csv, dev.csv)"),
    "evidence": ("abusewatch.cli.evidence", "export or verify tamper-evident case bundles"),
    "report": ("abusewatch.cli.report", "transparency report over a time range"),
    "config": ("abusewatch.cli.config", "print every setting with its default"),
    "hash": ("abusewatch.cli.hash", "print the posts/v1 media item (PDQ, MD5, SHA-256) of image files"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abusewatch", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default=os.environ.get("ABUSEWATCH_LOG_LEVEL", "info"))
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=os.environ.get("ABUSEWATCH_LOG_FORMAT", "json"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def configure_logging(level: str, log_format: str, role: str) -> None:
    """Root logging on stderr. JSON puts the role on every line and keeps what a call passes in
    `extra` (post_id, alert_id, action_id, ...) as fields of its own, for log search by id, and the
    trace_id/span_id of the span current when the line was logged (abusewatch.common.tracing)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        from abusewatch.common.tracing import TraceIdLogFilter

        handler.addFilter(TraceIdLogFilter())

        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={"role": role},
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {role} %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse the command name first, then hand the rest to the command's own parser so that each
    # command imports only what it needs (torch is slow to import).
    known, rest = parser.parse_known_args(argv)
    if known.log_format not in LOG_FORMATS:  # argparse checks choices on the command line, not defaults
        parser.error(f"ABUSEWATCH_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {known.log_format!r}")
    role = rest[0] if known.command == "serve" and rest else known.command
    configure_logging(known.log_level, known.log_format, role)
    module_name, help_text = COMMANDS[known.command]
    module = importlib.import_module(module_name)
    command_parser = argparse.ArgumentParser(prog=f"abusewatch {known.command}", description=help_text)
    module.add_arguments(command_parser)
    args = command_parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
