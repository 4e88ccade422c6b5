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
    from abusewatch.services.common import BoundedWorker, ServiceContext
    from abusewatch.shutdown import ShutdownDeadline

    ctx = ServiceContext.from_env(args.role)
    app = importlib.import_module(STREAM_ROLES[args.role]).build(ctx)
    worker = BoundedWorker(
        app, ShutdownDeadline(args.role, ctx.service.shutdown_timeout_s),
        loglevel=logging.getLevelName(logging.getLogger().level), override_logging=False,
    )
    worker.execute_from_commandline()
    return 0
