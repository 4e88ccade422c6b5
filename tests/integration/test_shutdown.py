"""Every role stops cleanly on SIGTERM within its documented bound (ABUSEWATCH_SHUTDOWN_TIMEOUT_S),
after a load and in the middle of one, and commits what it processed; and every role creates its
data directory when ABUSEWATCH_DATA_DIR does not exist yet.

One stack of all four roles, SIGTERMed together as `abusewatch run` and Kubernetes do:
1. after a load (every post scored and acted on): exit 0 within the bound, and each consumer
   group's committed offsets cover everything it read, so the restarted roles emit nothing again;
2. under a load (posts flowing to the stream services, scoring requests to the API): exit 0 within
   the bound, and the classifier's committed offsets match exactly what it emitted, so a restart
   resumes where it stopped: every post scored once, none twice.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.request

import orjson
import pytest
from kafka import KafkaAdminClient

from abusewatch.offline.bench.detector_service import committed  # a group's committed offsets, summed
from abusewatch.services.detector.rekeyer import GROUP_SUFFIX
from abusewatch.devstack.stack import Stack

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration

BOUND_S = 15.0  # ABUSEWATCH_SHUTDOWN_TIMEOUT_S, set explicitly below
MARGIN_S = 10.0  # interpreter exit after the bound; the assertion is generous on purpose
STREAM_ROLES = ("classifier", "detector", "actions")
ROLES = (*STREAM_ROLES, "api")
TEXTS = ("you are a worthless idiot", "have a nice day", "nobody wants you here, leave", "great game last night")


def post(n: int, run: str) -> dict:
    return {"post_id": f"{run}-{n}", "author_id": f"u-a{n % 97}", "text": f"{TEXTS[n % len(TEXTS)]} {n}",
            "created_at": "2026-11-21T09:00:00Z", "reply_to_user_id": f"u-t{n % 7}"}


def sigterm_all(stack: Stack) -> dict[str, tuple[int, float]]:
    """SIGTERM every role at once; each role's exit code and seconds until it exited."""
    started = time.monotonic()
    for process in stack.processes.values():
        process.send_signal(signal.SIGTERM)
    exits = {}
    for role, process in stack.processes.items():
        try:
            process.wait(timeout=max(started + BOUND_S + MARGIN_S - time.monotonic(), 0.1))
        except Exception:
            process.kill()
            process.wait()
        exits[role] = (process.returncode, time.monotonic() - started)
    stack.processes.clear()
    return exits


def assert_clean_exits(exits: dict[str, tuple[int, float]], stack: Stack) -> None:
    for role, (code, seconds) in exits.items():
        assert code == 0 and seconds < BOUND_S + MARGIN_S, (
            f"{role} exited with {code} after {seconds:.1f}s\n{stack.log_tail(role, 60)}"
        )


def drain(reader: TopicReader) -> list:
    """Every record on the topic so far: poll until two polls in a row bring nothing new."""
    quiet = 0
    while quiet < 2:
        before = len(reader.records)
        quiet = quiet + 1 if len(reader.poll()) == before else 0
    return reader.records


def start_roles(stack: Stack) -> None:
    for role in ROLES:
        stack.start_role(role)
    stack.wait_ready(ROLES, 240)


def score_over_http(stack: Stack, stop: threading.Event, answered: list[int]) -> None:
    body = orjson.dumps({"comment": {"text": "you are a worthless idiot"}, "requestedAttributes": {"INSULT": {}}})
    while not stop.is_set():
        request = urllib.request.Request(stack.url("api", "/v1alpha1/comments:analyze"), data=body,
                                         headers={"Authorization": "Bearer test-token", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answered.append(response.status)
        except OSError:
            return  # the API is stopping: connection refused or closed


def test_every_role_stops_within_its_bound_after_and_under_load_and_commits(broker, producer, tmp_path):
    data_dir = tmp_path / "fresh" / "nested" / "var"  # none of it exists yet
    env = stack_env(broker, tmp_path, ABUSEWATCH_DATA_DIR=str(data_dir), ABUSEWATCH_SHUTDOWN_TIMEOUT_S=str(BOUND_S),
                    ABUSEWATCH_ACTIONS_TAKE_WITHIN_S="0.05")
    # Logs elsewhere: the Stack must not be what creates the data directory.
    stack = Stack(roles=ROLES, env=env, embedded_broker=False, log_dir=tmp_path / "logs")
    topic = stack.kafka.topic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    readers: list[TopicReader] = []
    try:
        stack.start(ready_timeout_s=240)
        for role in STREAM_ROLES:
            assert (data_dir / topic(f"abusewatch-{role}")).is_dir(), role
        scores = TopicReader(broker.bootstrap, topic("post-scores"))
        rekeyed = TopicReader(broker.bootstrap, topic("detector-by-target"))  # packed: JSON lines
        readers += [scores, rekeyed]

        # 1. After a load.
        first = [post(n, "after") for n in range(600)]
        send_posts(producer, topic("posts"), first)
        scores.wait_for(lambda ms: len(ms) >= len(first), 120, "every post scored")
        app = {role: topic(f"abusewatch-{role}") for role in STREAM_ROLES}
        deadline = time.monotonic() + 60
        # The other roles are done too: their commits (on the commit interval) cover every score.
        for group in (app["detector"] + GROUP_SUFFIX, app["actions"]):
            while committed(admin, group, topic("post-scores")) < len(first):
                assert time.monotonic() < deadline, f"{group} did not finish the scores"
                time.sleep(0.5)
        assert_clean_exits(sigterm_all(stack), stack)
        rekeyed_count = len(drain(rekeyed))
        assert committed(admin, app["classifier"], topic("posts")) == len(first)
        assert committed(admin, app["detector"] + GROUP_SUFFIX, topic("post-scores")) == len(first)
        assert committed(admin, app["detector"], topic("detector-by-target")) == rekeyed_count
        assert committed(admin, app["actions"], topic("post-scores")) == len(first)

        # Restarted, they resume from those commits: nothing is emitted again.
        start_roles(stack)
        time.sleep(5)
        assert len(drain(scores)) == len(first)
        assert len(drain(rekeyed)) == rekeyed_count

        # 2. Under a load: posts keep coming and the API is answering requests when SIGTERM lands.
        stop_load = threading.Event()
        answered: list[int] = []
        sent: list[dict] = []

        def produce() -> None:
            n = 0
            while not stop_load.is_set():
                batch = [post(n + i, "under") for i in range(20)]
                send_posts(producer, topic("posts"), batch)
                sent.extend(batch)
                n += len(batch)
                time.sleep(0.1)  # about 200 posts/s

        threads = [threading.Thread(target=produce), threading.Thread(target=score_over_http, args=(stack, stop_load, answered))]
        for thread in threads:
            thread.start()
        try:
            scores.wait_for(lambda ms: len(ms) > len(first) + 100, 120, "scores flowing under load")
            assert answered, "the API answered no request under load"
            exits = sigterm_all(stack)
        finally:
            stop_load.set()
            for thread in threads:
                thread.join(timeout=30)
        assert_clean_exits(exits, stack)
        emitted = len(drain(scores))
        # The classifier committed exactly what it emitted: not less (it would emit those again),
        # not more (those would be lost).
        assert committed(admin, app["classifier"], topic("posts")) == emitted

        # Restarted, it resumes there: every post scored, none twice.
        start_roles(stack)
        want = {p["post_id"] for p in first + sent}
        got = scores.wait_for(lambda ms: {m["post_id"] for m in ms} >= want, 180, "every post scored after restart")
        assert len(got) == len(want), f"{len(got) - len(want)} posts scored twice"
    finally:
        admin.close()
        for reader in readers:
            reader.close()
        stack.stop()
