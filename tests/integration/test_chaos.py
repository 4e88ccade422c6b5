"""Chaos: under a steady load, every stream role is killed with SIGKILL several times and restarted,
and then every client's connection to the broker is cut once (a TCP proxy in front of it).

No valid post is lost (each is scored at least once), both pile-ons still raise an alert and a
reply limit, and outputs stay deduplicated by id: every copy of an alert or action id (at-least-once
redelivery) says the same thing.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from abusewatch.devstack.broker import EmbeddedBroker, free_port
from abusewatch.offline.demo import build_demo_stream
from abusewatch.devstack.stack import Stack

from .conftest import TopicReader, send_posts, stack_env
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

KILLS_PER_ROLE = 2
LOAD_POSTS_PER_S = 20
BROKER_CUT_S = 10.0


class SteadyLoad(threading.Thread):
    """Ordinary posts at a steady rate until stopped; remembers every post_id it sent."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        super().__init__(daemon=True)
        self.producer, self.topic = producer, topic
        self.sent: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stopped.is_set():
            post = {"post_id": f"load-{index}", "author_id": f"a-{index % 50}", "text": f"lovely day #{index}",
                    "created_at": datetime.now(timezone.utc).isoformat(), "reply_to_user_id": f"t-{index % 40}"}
            send_posts(self.producer, self.topic, [post])
            self.sent.append(post["post_id"])
            index += 1
            self.stopped.wait(1 / LOAD_POSTS_PER_S)


@pytest.fixture
def proxied_broker():
    """A broker of the test's own whose every client (the services and the test's) goes through a
    proxy the test can cut."""
    port = free_port()
    with TcpProxy(port) as proxy, EmbeddedBroker(port=port, advertised=proxy.address) as broker:
        yield broker, proxy


def test_sigkill_of_every_role_and_a_broker_cut_under_load_lose_nothing(proxied_broker, tmp_path):
    broker, proxy = proxied_broker
    env = stack_env(broker, tmp_path, ABUSEWATCH_ACTIONS_TAKE_WITHIN_S="0.05")
    stack = Stack(roles=("classifier", "detector", "actions"), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=240)
    topic = stack.kafka.topic
    readers = {name: TopicReader(broker.bootstrap, topic(name))
               for name in ("post-scores", "target-alerts", "platform-actions")}
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, retries=10)
    load = SteadyLoad(producer, topic("posts"))
    pile_ons = []
    try:
        load.start()
        for round_number in range(KILLS_PER_ROLE):
            stream = build_demo_stream(datetime.now(timezone.utc) - timedelta(minutes=6), seed=round_number,
                                       id_prefix=f"c{round_number}-")
            send_posts(producer, topic("posts"), stream.posts)
            pile_ons.append(stream)
            for role in ("classifier", "detector", "actions"):
                time.sleep(3)  # let some of the load and the pile-on into the role first
                stack.kill_role(role, signal.SIGKILL)
                time.sleep(1)
                stack.start_role(role)
                stack.wait_ready([role], 240)
        pids = {role: process.pid for role, process in stack.processes.items()}
        proxy.cut()  # every connection drops and none is accepted; the load goes on being produced
        time.sleep(BROKER_CUT_S)
        proxy.restore()
        time.sleep(5)
        load.stopped.set()
        load.join()

        wanted = set(load.sent) | {p["post_id"] for stream in pile_ons for p in stream.posts}
        scores = readers["post-scores"].wait_for(lambda ms: wanted <= {m["post_id"] for m in ms}, 300,
                                                 f"all {len(wanted)} posts scored")
        targets = {stream.pile_on_target for stream in pile_ons}
        alerts = readers["target-alerts"].wait_for(lambda ms: targets <= {m["target_id"] for m in ms}, 240,
                                                   "an alert for each pile-on")
        actions = readers["platform-actions"].wait_for(
            lambda ms: targets <= {m["subject"]["id"] for m in ms if m["kind"] == "limit_replies_to_target"}, 120,
            "a reply limit for each pile-on",
        )
        time.sleep(5)  # late redeliveries, to check them too
        stack.check_alive()
        assert {role: process.pid for role, process in stack.processes.items()} == pids  # reconnected, not restarted

        # Deduplicated by id: redelivered copies are the same decision.
        def same_by_id(messages: list[dict], id_field: str, fields: tuple[str, ...]) -> None:
            seen: dict[str, tuple] = {}
            for message in messages:
                summary = tuple(str(message.get(field)) for field in fields)
                assert seen.setdefault(message[id_field], summary) == summary, (message[id_field], summary)

        same_by_id(readers["target-alerts"].messages(), "alert_id", ("target_id", "campaign_id", "status"))
        same_by_id(readers["platform-actions"].messages(), "action_id", ("kind", "op", "subject"))
        redelivered = len(scores) - len({m["post_id"] for m in scores})
        print(f"chaos: {len(wanted)} posts, {KILLS_PER_ROLE * 3} kills, a {BROKER_CUT_S:.0f} s broker cut, "
              f"{redelivered} re-scored copies, "
              f"{len(alerts)} alerts, {len(actions)} actions")
    finally:
        load.stopped.set()
        producer.close()
        for reader in readers.values():
            reader.close()
        stack.stop()
