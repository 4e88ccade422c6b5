"""`abusewatch run` (make run): the whole pipeline locally until Ctrl-C.

Once every role is ready, a role that exits is restarted with backoff and one that keeps failing is
reported as crash-looping while the others stay up (Stack.supervise); `--fail-fast` stops
everything instead. At startup a role that exits stops everything either way: that is a
configuration error to show at once, with its log tail.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from pathlib import Path

from abusewatch.api.console.sessions import write_users_file
from abusewatch.common import config
from abusewatch.common.settings import KafkaSettings
from abusewatch.devstack.stack import ALL_ROLES, Stack

LOCAL_CONSOLE_USERS = {"viewer": "viewer", "reviewer": "reviewer", "admin": "admin"}  # user id -> role


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roles", default=",".join(ALL_ROLES), help="comma-separated roles to start")
    parser.add_argument(
        "--fail-fast", action="store_true",
        help="stop everything (exit 1) when a role exits, instead of restarting it with backoff",
    )


def run(args: argparse.Namespace) -> int:
    env: dict[str, str] = {}
    if "ABUSEWATCH_API_TOKEN" not in os.environ:
        # A fresh token per local run, printed below; production sets its own.
        env["ABUSEWATCH_API_TOKEN"] = secrets.token_urlsafe(24)
    console_tokens: dict[str, str] = {}
    if "ABUSEWATCH_CONSOLE_USERS_FILE" not in os.environ:
        # One user per role with fresh tokens, printed below; production keeps its own users file.
        users_file = Path(config.load(KafkaSettings).data_dir) / "console-users.yaml"
        console_tokens = write_users_file(users_file, LOCAL_CONSOLE_USERS)
        env["ABUSEWATCH_CONSOLE_USERS_FILE"] = str(users_file.resolve())
        env.setdefault("ABUSEWATCH_CONSOLE_SESSION_SECRET", secrets.token_urlsafe(32))
    stack = Stack(roles=args.roles.split(","), env=env)
    where = f"embedded Tansu broker on {stack.kafka.bootstrap}" if stack.embedded_broker else stack.kafka.bootstrap
    print(f"starting abusewatch: Kafka at {where}; logs in {stack.log_dir}/", flush=True)

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # same clean path as Ctrl-C

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # A process started in the background by a non-interactive shell inherits SIGINT as ignored;
    # Ctrl-C (or kill -INT) must still stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
        print("\nabusewatch is running:")
        for role in stack.roles:
            print(f"  {role:<11} health {stack.url(role, '/healthz')}  metrics {stack.url(role, '/metrics')}")
        if "api" in stack.roles:
            print(f"  HTTP API    {stack.url('api')}  (Authorization: Bearer {stack.env['ABUSEWATCH_API_TOKEN']})")
            print(f"  console     {stack.url('api', '/console/')}  (docs/console.md)")
            for user_id, token in console_tokens.items():
                print(f"              sign in as {user_id:<9} with token {token}")
            print(f"  demo        KAFKA_BOOTSTRAP={stack.kafka.bootstrap} abusewatch demo --into-running")
        print(f"  topics      {', '.join(stack.kafka.topic(t) for t in ('posts', 'post-scores', 'target-alerts'))} ...")
        print("Produce JSON posts to the posts topic (see docs/contract.md). Ctrl-C stops everything.", flush=True)
        while True:
            if args.fail_fast:
                stack.check_alive()
            else:
                stack.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping abusewatch ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return 0
