"""`abusewatch serve ROLE`: run one service role in this process (one image, roles by argument)."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
from typing import NoReturn

STREAM_ROLES = {
    "classifier": "abusewatch.services.classifier.app",
    "detector": "abusewatch.services.detector.app",
    "actions": "abusewatch.services.actions.app",
}
ROLES = (*STREAM_ROLES, "api")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", choices=ROLES)


def run(args: argparse.Namespace) -> NoReturn:
    from abusewatch.common.shutdown import exit_now

    try:
        code: object = serve(args.role)
    except SystemExit as stop:  # how the Faust worker ends, after its stop
        code = stop.code
    exit_now(code)


def check_resources(role: str) -> None:
    """Startup check of what `role` reads from disk; raises ResourceMissing before anything starts."""
    from abusewatch.common import config, resources
    from abusewatch.policy.settings import PolicySettings
    from abusewatch.scoring.inference.settings import EngineSettings

    resources.schema_dir()
    if role in ("classifier", "api"):
        resources.model_dir(config.load(EngineSettings).model_dir)
    if role == "actions":
        resources.require(resources.shipped_or_local(config.load(PolicySettings).policy_file),
                          "ABUSEWATCH_POLICY_FILE", "policy file")


def tune_garbage_collector(gen0_threshold: int) -> None:
    """Collect the youngest generation every gen0_threshold allocations (0: CPython's default) and
    freeze what exists now (modules, the app, its settings) out of every later collection: the
    services' garbage is short-lived per-message dicts, and a full collection walks everything."""
    if gen0_threshold:
        gc.set_threshold(gen0_threshold, *gc.get_threshold()[1:])
    gc.collect()
    gc.freeze()


def serve(role: str) -> int:
    from abusewatch.common import resources

    try:
        check_resources(role)
    except resources.ResourceMissing as exc:
        # The same exit code as any failed start, so a supervisor restarts it, with a one-line reason.
        logging.getLogger(__name__).error("%s cannot start: %s", role, exc)
        return 1
    if role == "api":
        from abusewatch.api.app import run_api

        return int(run_api() or 0)
    from abusewatch.services.common import ServiceContext
    from abusewatch.services.faust_overrides import BoundedWorker
    from abusewatch.common.shutdown import ShutdownDeadline

    ctx = ServiceContext.from_env(role)
    app = importlib.import_module(STREAM_ROLES[role]).build(ctx)
    tune_garbage_collector(ctx.service.gc_gen0_threshold)
    worker = BoundedWorker(
        app, ShutdownDeadline(role, ctx.service.shutdown_timeout_s),
        loglevel=logging.getLevelName(logging.getLogger().level), override_logging=False,
    )
    # Faust's startup spinner writes terminal escapes to stdout, which would break one-JSON-object-a-
    # line logs; without it the worker logs "Ready" instead.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        ctx.tracing.shutdown()  # the spans still buffered; bounded by the shutdown deadline
    return 0
