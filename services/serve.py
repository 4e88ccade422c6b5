"""`abusewatch serve ROLE`: run one service role in this process (one image, roles by argument)."""

from __future__ import annotations

import argparse
import importlib
import logging

STREAM_ROLES = {
    "classifier": "abusewatch.services.classifier.app",
    "detector": "abusewatch.services.detector.app",
    "actions": "abusewatch.services.actions.app",
}
ROLES = (*STREAM_ROLES, "api")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", choices=ROLES)


def run(args: argparse.Namespace) -> int:
    if args.role == "api":
        from abusewatch.api.app import run_api

        return int(run_api() or 0)
    import faust

    from abusewatch.services.common import ServiceContext

    ctx = ServiceContext.from_env(args.role)
    app = importlib.import_module(STREAM_ROLES[args.role]).build(ctx)
    # The Faust worker owns the event loop and turns SIGTERM/SIGINT into a clean shutdown (it
    # flushes the producer and commits offsets), which is what Kubernetes sends on pod stop.
    worker = faust.Worker(app, loglevel=logging.getLevelName(logging.getLogger().level), override_logging=False)
    # Faust's startup spinner writes terminal escapes to stdout, which would break one-JSON-object-a-
    # line logs; without it the worker logs "Ready" instead.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
