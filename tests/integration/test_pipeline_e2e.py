"""End to end through the real broker with the real model: classifier, detector and actions as
separate processes, as deployed.

- counts reconcile: every input is scored or dead-lettered with the right reason, exactly once;
- a pile-on against one target raises a target alert and a limit_replies_to_target action, and a
  direct threat escalates on its own (critical);
- a classifier killed with SIGKILL mid-stream and restarted loses nothing (at-least-once; outputs
  deduplicated by id).
"""

from __future__ import annotations

import base64
import signal
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from abusewatch.common import config

from abusewatch.ingest import contract
from abusewatch.detection import DetectorSettings
from abusewatch.offline.demo import build_demo_stream
from abusewatch.devstack.stack import Stack

from .conftest import service_metric, TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration

OUTPUT_TOPICS = ("post-scores", "posts-dlq", "target-alerts", "platform-actions", "escalations")


@pytest.fixture(scope="module")
def pipeline(broker, tmp_path_factory):
    env = stack_env(broker, tmp_path_factory.mktemp("pipeline"))
    stack = Stack(roles=("classifier", "detector", "actions"), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=240)  # on failure it stops and raises with the roles' log tails
    readers = {name: TopicReader(broker.bootstrap, stack.kafka.topic(name)) for name in OUTPUT_TOPICS}
    yield stack, readers
    for reader in readers.values():
        reader.close()
    stack.stop()


def _post(post_id: str, text: str = "have a nice day", **fields):
    message = {"post_id": post_id, "author_id": "u-a", "text": text, "created_at": "2026-11-21T09:00:00Z"}
    message.update(fields)
    return message


def test_counts_reconcile_and_bad_input_is_dead_lettered_with_its_reason(pipeline, producer):
    stack, readers = pipeline
    good = [_post(f"rc-{i}", reply_to_user_id=f"u-t{i % 3}") for i in range(40)]
    bad = {
        b"{this is not json": "invalid_json",
        b"\xc3\x28 invalid utf-8": "invalid_utf8",
        orjson.dumps(_post("rc-missing", author_id=None)): "schema_violation",
        orjson.dumps({k: v for k, v in _post("rc-noauthor").items() if k != "author_id"}): "schema_violation",
        orjson.dumps(_post("rc-mistyped", mentioned_user_ids="u-x")): "schema_violation",
        orjson.dumps(_post("rc-empty", text="   ")): "empty_text",
        orjson.dumps(_post("rc-huge", text="a" * 20_000)): "text_too_long",
        orjson.dumps(_post("rc-extra", favourite_colour="red")): "unknown_fields",
        orjson.dumps(_post("rc-time", created_at="last tuesday")): "invalid_timestamp",
        orjson.dumps(_post("rc-0", text="the same post_id again")): "duplicate_post_id",
    }
    send_posts(producer, stack.kafka.topic("posts"), good)
    send_posts(producer, stack.kafka.topic("posts"), list(bad))
    total = len(good) + len(bad)

    def scored_ids(messages):
        return {m["post_id"] for m in messages if m["post_id"].startswith("rc-")}

    def dlq_entries(messages):
        return [m for m in messages if (m.get("post_id") or "rc-").startswith("rc-")]

    readers["post-scores"].wait_for(lambda ms: len(scored_ids(ms)) >= len(good), 180, "40 scores")
    readers["posts-dlq"].wait_for(lambda ms: len(dlq_entries(ms)) >= len(bad), 60, "10 dead letters")
    scores = [m for m in readers["post-scores"].messages() if m["post_id"].startswith("rc-")]
    dead = dlq_entries(readers["posts-dlq"].messages())
    # No restarts in this test, so nothing is redelivered: the raw counts reconcile exactly.
    assert len(scores) + len(dead) == total
    assert scored_ids(scores) == {p["post_id"] for p in good}
    assert {base64.b64decode(m["original_base64"]): m["error"]["code"] for m in dead} == bad
    for message in scores:
        contract.validate("post-scores", message)
        assert message["latency_ms"] >= 0 and message["model"]["name"]
    for message in dead:
        contract.validate("posts-dlq", message)
    # The classifier's own metrics agree: in = scored + dead-lettered (over this module's traffic).
    # Counters move at the end of a batch, after its sends: poll until the batch is accounted for.
    deadline = time.monotonic() + 15
    while True:
        consumed = service_metric(stack, "classifier", "abusewatch_messages_in_total", topic=stack.kafka.topic("posts"))
        produced = service_metric(stack, "classifier", "abusewatch_messages_out_total", topic=stack.kafka.topic("post-scores"))
        dead_lettered = service_metric(stack, "classifier", "abusewatch_messages_dead_lettered_total")
        if consumed == produced + dead_lettered >= total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert consumed == produced + dead_lettered >= total


def test_pile_on_raises_alert_and_reply_limit_and_threat_escalates(pipeline, producer):
    stack, readers = pipeline
    stream = build_demo_stream(datetime.now(timezone.utc) - timedelta(minutes=6), id_prefix="po-")
    send_posts(producer, stack.kafka.topic("posts"), stream.posts)

    alerts = readers["target-alerts"].wait_for(
        lambda ms: any(m["target_id"] == stream.pile_on_target for m in ms), 180, "a pile-on alert"
    )
    alert = next(m for m in alerts if m["target_id"] == stream.pile_on_target)
    contract.validate("target-alerts", alert)
    windows = config.load(DetectorSettings).windows()  # a crowd of new accounts: the coordinated floors
    assert alert["distinct_authors"] >= min(w.coordinated_min_authors for w in windows)
    assert alert["counts"]["abusive_posts"] >= min(w.coordinated_min_posts for w in windows)
    assert alert["new_account_share"] > 0.5 and alert["non_follower_share"] > 0.5
    assert set(alert["top_post_ids"]) <= set(stream.pile_on_post_ids)
    assert not any(m["target_id"].startswith("po-u-") and m["target_id"] != stream.pile_on_target for m in alerts)

    actions = readers["platform-actions"].wait_for(
        lambda ms: any(m["kind"] == "limit_replies_to_target" and m["subject"]["id"] == stream.pile_on_target for m in ms),
        90,
        "a limit_replies_to_target action",
    )
    limit = next(m for m in actions if m["kind"] == "limit_replies_to_target" and m["subject"]["id"] == stream.pile_on_target)
    contract.validate("platform-actions", limit)
    assert limit["op"] == "apply" and limit["duration_s"] > 0
    assert limit["reasons"]["campaign_id"] == alert["campaign_id"]

    escalations = readers["escalations"].wait_for(
        lambda ms: any(stream.threat_post_id in m["evidence_post_ids"] for m in ms), 90, "a threat escalation"
    )
    threat = next(m for m in escalations if stream.threat_post_id in m["evidence_post_ids"])
    contract.validate("escalations", threat)
    assert (threat["severity"], threat["category"]) == ("critical", "threat")
    assert threat["reasons"]["scores"]["threat"] >= threat["reasons"]["thresholds"]["threat"]


def test_a_crowd_of_clean_but_hostile_replies_from_new_strangers_is_a_pile_on_and_from_followers_is_not(
        pipeline, producer):
    # The real model scores these replies clean; the classifier's hostility layer finds them, and
    # the detector counts them only from new accounts that do not follow the target.
    stack, readers = pipeline
    texts = ["log off", "nobody asked", "we know who you are", "delete your account", "ratio",
             "your employer will hear about this", "touch grass", "you're finished"]
    start = datetime.now(timezone.utc) - timedelta(minutes=3)

    def crowd(target, follows):
        return [_post(f"hc-{target}-{i}", text=texts[i % len(texts)], author_id=f"hc-{target}-a{i}",
                      reply_to_user_id=target, created_at=contract.format_time(start + timedelta(seconds=5 * i)),
                      author_created_at=contract.format_time(start - timedelta(days=3)),
                      author_follows_target=follows)
                for i in range(16)]

    send_posts(producer, stack.kafka.topic("posts"), crowd("hc-victim", False) + crowd("hc-friend", True))
    alerts = readers["target-alerts"].wait_for(lambda ms: any(m["target_id"] == "hc-victim" for m in ms), 180,
                                               "a pile-on alert on hc-victim")
    alert = next(m for m in alerts if m["target_id"] == "hc-victim")
    contract.validate("target-alerts", alert)
    assert any(reason.startswith("hostile_replies=") for reason in alert["reasons"]), alert["reasons"]
    scores = readers["post-scores"].wait_for(
        lambda ms: sum(m["post_id"].startswith("hc-hc-friend-") for m in ms) >= 16, 60, "the followers' scores")
    assert all(m["hostility"]["detected"] for m in scores if m["post_id"].startswith("hc-"))
    # The followers' identical crowd is scored, and stays quiet: a few seconds more for its alert, if any.
    time.sleep(5)
    assert not any(m["target_id"] == "hc-friend" for m in readers["target-alerts"].messages())


def test_nothing_is_lost_when_the_classifier_is_killed_mid_stream(pipeline, producer):
    stack, readers = pipeline
    posts_topic = stack.kafka.topic("posts")
    first = [_post(f"kr-{i}", reply_to_user_id="u-k") for i in range(150)]
    second = [_post(f"kr-{i}", reply_to_user_id="u-k") for i in range(150, 300)]

    def kr_ids(messages):
        return {m["post_id"] for m in messages if m["post_id"].startswith("kr-")}

    send_posts(producer, posts_topic, first)
    readers["post-scores"].wait_for(lambda ms: len(kr_ids(ms)) >= 20, 120, "the first scores")
    stack.kill_role("classifier", signal.SIGKILL)  # mid-stream: no flush, no offset commit
    send_posts(producer, posts_topic, second)
    time.sleep(1)
    stack.start_role("classifier")
    stack.wait_ready(["classifier"], 240)
    scores = readers["post-scores"].wait_for(lambda ms: len(kr_ids(ms)) >= 300, 240, "all 300 scores after restart")
    assert kr_ids(scores) == {p["post_id"] for p in first + second}
    # Redelivered posts are scored again with the same key (post_id): consumers deduplicate by it.
    dead = [m for m in readers["posts-dlq"].messages() if (m.get("post_id") or "").startswith("kr-")]
    assert all(m["error"]["code"] == "duplicate_post_id" for m in dead)
