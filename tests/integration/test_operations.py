"""Day-2 operations against the running pipeline (classifier, detector, actions as separate
processes on the real broker and model) and a real Prometheus server (Debian's `prometheus`):

- Prometheus scrapes every role's /metrics and evaluates deploy/prometheus/rules.yml (the same
  expressions; only `for:` is shortened): poison on the posts topic fires the dead-letter alert, a
  stopped classifier fires RoleDown, and its restart fires RoleRestarting;
- every role logs one JSON object a line with its role, and no post text or author id sent through
  the pipeline appears in any log.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from abusewatch.devstack.broker import free_port
from abusewatch.offline.demo import build_demo_stream
from abusewatch.devstack.stack import Stack

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("classifier", "detector", "actions")
TEST_FOR = "2s"  # `for:` of every rule under test: the faults are induced, no need to wait minutes
SCRAPE_INTERVAL = "1s"


def rules_with_short_for(tmp_path: Path) -> Path:
    """rules.yml with the same expressions and a short `for:`."""
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = SCRAPE_INTERVAL
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = TEST_FOR
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path




class Prometheus:
    """A Prometheus server on loopback scraping the stack's roles as docker-compose's config does
    (job="abusewatch", a role label per target)."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("the Prometheus server is missing: install Debian's `prometheus` package (apt-get install -y prometheus)")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": [str(rules_with_short_for(tmp_path))],
            "scrape_configs": [{
                "job_name": "abusewatch",
                "scrape_timeout": SCRAPE_INTERVAL,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{stack.port_of(role)}"], "labels": {"role": role}} for role in ROLES
                ],
            }],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = tmp_path / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self._wait(lambda: self._get("/-/ready") is not None, 60, "Prometheus to be ready")

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return response.read()
        except OSError:
            return None

    def _wait(self, predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; Prometheus log:\n{tail}")
            time.sleep(0.5)

    def firing(self) -> list[dict]:
        body = self._get("/api/v1/alerts")
        alerts = json.loads(body)["data"]["alerts"] if body else []
        return [a["labels"] for a in alerts if a["state"] == "firing"]

    def wait_firing(self, alertname: str, timeout_s: float, **labels: str) -> dict:
        found: list[dict] = []

        def is_firing() -> bool:
            found[:] = [a for a in self.firing() if a["alertname"] == alertname and labels.items() <= a.items()]
            return bool(found)

        self._wait(is_firing, timeout_s, f"{alertname} {labels} to fire (firing now: {self.firing()})")
        return found[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def running(broker, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("operations")
    env = stack_env(
        broker, tmp_path, ABUSEWATCH_LOG_FORMAT="json", ABUSEWATCH_ACTIONS_LOCKER_PROBE_S="1",
    )
    stack = Stack(roles=ROLES, env=env, embedded_broker=False)
    stack.start(ready_timeout_s=240)
    prometheus = Prometheus(stack, tmp_path)
    yield stack, prometheus
    prometheus.stop()
    stack.stop()


def test_alerts_fire_on_poison_a_stopped_classifier_and_its_restart_and_logs_keep_no_post_text(running, producer):
    stack, prometheus = running
    prefix = f"ops{uuid.uuid4().hex[:6]}-"
    stream = build_demo_stream(datetime.now(timezone.utc) - timedelta(minutes=6), id_prefix=prefix)
    posts_topic = stack.kafka.topic("posts")
    scores = TopicReader(stack.kafka.bootstrap, stack.kafka.topic("post-scores"))
    actions = TopicReader(stack.kafka.bootstrap, stack.kafka.topic("platform-actions"))
    send_posts(producer, posts_topic, stream.posts)
    # Every role is scraped and no alert fires on a healthy pipeline.
    prometheus._wait(lambda: len(json.loads(prometheus._get("/api/v1/targets") or b'{"data":{"activeTargets":[]}}')
                                   ["data"]["activeTargets"]) == len(ROLES), 30, "three scrape targets")

    # Poison, in bursts a few scrapes apart so the dead-letter counter is seen to rise.
    for burst in range(5):
        send_posts(producer, posts_topic, [b"{not json " + f"{prefix}{burst}-{i}".encode() for i in range(20)])
        time.sleep(2)
    alert = prometheus.wait_firing("AbusewatchDeadLetterRateHigh", 90, role="classifier")
    assert alert["severity"] == "warning"

    # The clean posts went all the way through: scored, a pile-on alert, a reply limit.
    post_ids = {p["post_id"] for p in stream.posts}
    scores.wait_for(lambda ms: post_ids <= {m["post_id"] for m in ms}, 180, "every demo post scored")
    actions.wait_for(
        lambda ms: any(m["kind"] == "limit_replies_to_target" and m["subject"]["id"] == stream.pile_on_target for m in ms),
        180, "the pile-on's reply limit",
    )
    scores.close()
    actions.close()
    assert not [a for a in prometheus.firing() if a["alertname"] in ("AbusewatchRoleDown", "AbusewatchRoleRestarting")]

    # A stopped classifier is down; started again, it has restarted.
    stack.kill_role("classifier", signal.SIGTERM)
    prometheus.wait_firing("AbusewatchRoleDown", 60, role="classifier")
    stack.start_role("classifier")
    stack.wait_ready(["classifier"], 240)
    prometheus.wait_firing("AbusewatchRoleRestarting", 60, role="classifier")
    assert not [a for a in prometheus.firing() if a["alertname"] == "AbusewatchRoleDown" and a["role"] != "classifier"]

    # Logs: JSON objects with their role, and nothing of what the posts said or who wrote them.
    secrets = {p["text"] for p in stream.posts} | {p["author_id"] for p in stream.posts}
    for role in ROLES:
        lines = (stack.log_dir / f"{role}.log").read_text(errors="replace").splitlines()
        assert lines, role
        for line in lines:
            record = json.loads(line)  # every line is one JSON object
            assert record["role"] == role and record["level"] and "message" in record, line
            leaked = [s for s in secrets if s in line]
            assert not leaked, f"{role} logged {leaked}: {line}"
