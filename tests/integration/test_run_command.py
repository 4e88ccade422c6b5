"""`abusewatch run` (what `make run` starts): every role comes up, a post produced with
kafka-python comes out scored, the API answers with the token it printed, the console signs in with
the tokens it printed and the demo line it printed feeds the running pipeline, a role killed with
SIGKILL is restarted and comes back ready while the others stay up, and Ctrl-C stops it all. A role
that keeps failing is reported as crash-looping and still retried (Stack.supervise)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from abusewatch.devstack.stack import Stack

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Output:
    """The lines a process writes, collected by a thread so that the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, fragment: str, timeout_s: float, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + timeout_s
        while fragment not in self.text():
            assert process.poll() is None, f"abusewatch run exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {fragment!r} after {timeout_s}s:\n{self.text()}"
            time.sleep(0.2)


def child_pid(parent: int, role: str) -> int:
    """The pid of the `abusewatch serve ROLE` process started by `parent`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == parent and cmdline[-3:-1] == [b"serve", role.encode()]:
            return int(stat.parent.name)
    raise AssertionError(f"no {role} process under {parent}")


def score_one(broker, producer, prefix: str, post_id: str) -> dict:
    post = {"post_id": post_id, "author_id": "u-1", "text": "you are a worthless idiot",
            "created_at": "2026-11-21T09:00:00Z", "reply_to_user_id": "u-2"}
    send_posts(producer, f"{prefix}posts", [post])
    reader = TopicReader(broker.bootstrap, f"{prefix}post-scores")
    try:
        scores = reader.wait_for(lambda ms: any(m["post_id"] == post_id for m in ms), 90, f"the score of {post_id}")
    finally:
        reader.close()
    return next(m for m in scores if m["post_id"] == post_id)


def test_run_starts_everything_restarts_a_killed_role_and_stops_on_ctrl_c(broker, producer, tmp_path):
    env = stack_env(broker, tmp_path, ABUSEWATCH_RESTART_BACKOFF_S="0.5")
    del env["ABUSEWATCH_API_TOKEN"]  # the command generates one and prints it
    process = subprocess.Popen(
        [sys.executable, "-m", "abusewatch.cli.main", "run"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        output.wait_for("Ctrl-C stops everything", 240, process)
        banner = output.text()
        token = banner.split("Authorization: Bearer ", 1)[1].split(")", 1)[0]
        for port_var in ("ABUSEWATCH_CLASSIFIER_PORT", "ABUSEWATCH_DETECTOR_PORT", "ABUSEWATCH_ACTIONS_PORT"):
            assert f"http://127.0.0.1:{env[port_var]}/metrics" in banner

        prefix = env["ABUSEWATCH_TOPIC_PREFIX"]
        score = score_one(broker, producer, prefix, "run-1")
        assert score["targets"] == ["u-2"] and 0 <= score["scores"]["insult"] <= 1

        request = urllib.request.Request(
            f"http://127.0.0.1:{env['ABUSEWATCH_API_PORT']}/v1alpha1/comments:analyze",
            data=orjson.dumps({"comment": {"text": "you are a worthless idiot"}, "requestedAttributes": {"INSULT": {}}}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert 0 <= body["attributeScores"]["INSULT"]["summaryScore"]["value"] <= 1

        # The console tokens it printed sign in; the demo line it printed feeds this running pipeline.
        admin_token = banner.split("sign in as admin     with token ", 1)[1].split()[0]
        login = urllib.request.Request(f"http://127.0.0.1:{env['ABUSEWATCH_API_PORT']}/console/login",
                                       data=f"token={admin_token}".encode(), method="POST")
        try:
            urllib.request.build_opener(NoRedirect).open(login, timeout=10)
            raise AssertionError("sign-in did not redirect")
        except urllib.error.HTTPError as redirect:
            assert redirect.code == 303 and "abusewatch_console=" in redirect.headers["Set-Cookie"]
        demo_line = banner.split("  demo        ", 1)[1].splitlines()[0]
        assert demo_line.endswith("abusewatch demo --into-running")
        demo = subprocess.run([sys.executable, "-m", "abusewatch.cli.main", "demo", "--into-running",
                               "--speed", "100", "--wait", "45"], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
        assert demo.returncode == 0, demo.stderr
        assert "ESCALATION [critical] threat" in demo.stdout and "ALERT  pile-on against u-maria-reporter" in demo.stdout

        # A role that dies is logged, restarted and comes back ready; the others are left alone.
        others = {role: child_pid(process.pid, role) for role in ("detector", "actions", "api")}
        os.kill(child_pid(process.pid, "classifier"), signal.SIGKILL)
        output.wait_for("classifier exited with signal SIGKILL; restarting it in 0.5 s", 30, process)
        output.wait_for("classifier is ready again after restart 1", 180, process)
        assert score_one(broker, producer, prefix, "run-2")["post_id"] == "run-2"
        assert {role: child_pid(process.pid, role) for role in others} == others
        assert "crash-looping" not in output.text()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    assert process.returncode == 0, output.text()
    assert "stopped." in output.text()


def test_a_role_that_keeps_failing_is_reported_as_crash_looping_and_still_retried(broker, tmp_path, caplog):
    # An actions service whose policy file does not exist fails at every start.
    env = stack_env(broker, tmp_path, ABUSEWATCH_POLICY_FILE=str(tmp_path / "missing.yaml"),
                    ABUSEWATCH_RESTART_BACKOFF_S="0.1", ABUSEWATCH_RESTART_BACKOFF_MAX_S="0.4",
                    ABUSEWATCH_CRASH_LOOP_FAILURES="3")
    stack = Stack(roles=("actions",), env=env, embedded_broker=False)
    caplog.set_level(logging.INFO, logger="abusewatch.devstack.stack")
    try:
        stack.start_role("actions")
        deadline = time.monotonic() + 120
        while stack.restarts.get("actions") is None or stack.restarts["actions"].restarts < 4:
            assert time.monotonic() < deadline, caplog.text
            stack.supervise()
            time.sleep(0.1)
    finally:
        stack.stop()
    assert stack.crash_looping == ["actions"]
    assert caplog.text.count("actions is crash-looping: 3 failures within 300 s") == 1  # reported once
    assert "actions exited with code 1" in caplog.text and "missing.yaml" in caplog.text  # exit code, log tail
    assert caplog.text.count("restarting actions (restart") >= 3  # still retried after being reported
