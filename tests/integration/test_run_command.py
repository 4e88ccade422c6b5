"""`abusewatch run` (what `make run` starts): every role comes up, a post produced with
kafka-python comes out scored, the API answers with the token it printed, and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration


def test_run_starts_everything_scores_a_post_and_stops_on_ctrl_c(broker, producer, tmp_path):
    env = stack_env(broker, tmp_path)
    del env["ABUSEWATCH_API_TOKEN"]  # the command generates one and prints it
    process = subprocess.Popen(
        [sys.executable, "-m", "abusewatch.cli", "run"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not any("Ctrl-C stops everything" in line for line in output):
            line = process.stdout.readline()
            assert line, f"abusewatch run exited early:\n{''.join(output)}"
            output.append(line)
            assert time.monotonic() < deadline, "".join(output)
        banner = "".join(output)
        token = banner.split("Authorization: Bearer ", 1)[1].split(")", 1)[0]
        for port_var in ("ABUSEWATCH_CLASSIFIER_PORT", "ABUSEWATCH_DETECTOR_PORT", "ABUSEWATCH_ACTIONS_PORT"):
            assert f"http://127.0.0.1:{env[port_var]}/metrics" in banner

        prefix = env["ABUSEWATCH_TOPIC_PREFIX"]
        post = {"post_id": "run-1", "author_id": "u-1", "text": "you are a worthless idiot",
                "created_at": "2026-11-21T09:00:00Z", "reply_to_user_id": "u-2"}
        send_posts(producer, f"{prefix}posts", [post])
        reader = TopicReader(broker.bootstrap, f"{prefix}post-scores")
        scores = reader.wait_for(lambda ms: any(m["post_id"] == "run-1" for m in ms), 60, "the score")
        reader.close()
        assert scores[0]["targets"] == ["u-2"] and 0 <= scores[0]["scores"]["insult"] <= 1

        request = urllib.request.Request(
            f"http://127.0.0.1:{env['ABUSEWATCH_API_PORT']}/v1alpha1/comments:analyze",
            data=orjson.dumps({"comment": {"text": "you are a worthless idiot"}, "requestedAttributes": {"INSULT": {}}}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert 0 <= body["attributeScores"]["INSULT"]["summaryScore"]["value"] <= 1
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=90)
    assert process.returncode == 0, rest
    assert "stopped." in rest
