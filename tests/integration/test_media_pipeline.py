"""Known media end to end through the real broker: classifier, detector and actions as processes.

A bank file loads at startup (platform-removed, MD5); an ncii entry arrives live on
hash-bank-updates and takes effect without a restart; a post carrying an altered copy of that
image (hashed here with PDQ) is held and escalated as ncii with the bank, distance and hash in its
reasons; an invalid update is dead-lettered and the classifier keeps running; three accounts
sending one target that image open a shared-media campaign in the detector."""

from __future__ import annotations

import json
import time

import orjson
import pytest

from abusewatch.ingest import contract
from abusewatch.devstack.stack import Stack
from abusewatch.scoring.media.hashes import pdq_of_image
from tests.unit.scoring.test_media import ALTERATIONS, picture

from .conftest import TopicReader, send_posts, service_metric, stack_env

pytestmark = pytest.mark.integration

REMOVED_MD5 = "5d41402abc4b2a76b9719d911017c592"


@pytest.fixture(scope="module")
def pipeline(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("media")
    banks = tmp / "banks"
    banks.mkdir()
    (banks / "platform-removed.jsonl").write_text(json.dumps({"signal_type": "md5", "hash": REMOVED_MD5}) + "\n")
    env = stack_env(broker, tmp, ABUSEWATCH_HASH_BANK_DIR=str(banks), ABUSEWATCH_DETECTOR_TAKE_WITHIN_S="0.05")
    stack = Stack(roles=("classifier", "detector", "actions"), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=240)
    readers = {name: TopicReader(broker.bootstrap, stack.kafka.topic(name))
               for name in ("post-scores", "platform-actions", "escalations", "dead-letters", "target-alerts")}
    yield stack, readers
    for reader in readers.values():
        reader.close()
    stack.stop()


def _wait(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _post(post_id, media, **fields):
    return {"post_id": post_id, "author_id": "u-ex", "text": "remember this? @maria", "reply_to_user_id": "u-maria",
            "created_at": "2026-11-21T09:00:00Z", "media": media, **fields}


def test_a_live_ncii_entry_escalates_an_altered_copy_and_bank_files_load(pipeline, producer):
    stack, readers = pipeline
    victim_image = picture(42)
    original, _ = pdq_of_image(victim_image)
    altered, quality = pdq_of_image(ALTERATIONS["all_together"](victim_image))
    updates = stack.kafka.topic("hash-bank-updates")
    update = {"schema": "hash-bank-updates/v1", "update_id": "u-1", "bank": "ncii", "op": "add",
              "entries": [{"signal_type": "pdq", "hash": original, "entry_id": "stopncii-1"}],
              "at": "2026-11-21T08:59:00Z"}
    contract.validate("hash-bank-updates", update)
    producer.send(updates, key=b"ncii", value=b"{not an update")
    producer.send(updates, key=b"ncii", value=orjson.dumps(update))
    producer.flush()
    _wait(lambda: service_metric(stack, "classifier", "abusewatch_hash_bank_entries", bank="ncii") == 1, 60,
          "the live ncii entry")
    readers["dead-letters"].wait_for(
        lambda ms: any(m["source"]["topic"] == updates and m["error"]["code"] == "invalid_json" for m in ms), 30,
        "the invalid update dead-lettered")

    send_posts(producer, stack.kafka.topic("posts"), [
        _post("m-ncii", [{"type": "image", "media_id": "img-1", "pdq": {"hash": altered, "quality": quality}}]),
        _post("m-removed", [{"type": "video", "md5": REMOVED_MD5}]),
        _post("m-unrelated", [{"type": "image", "pdq": {"hash": pdq_of_image(picture(7))[0], "quality": 90}}]),
    ])
    scores = readers["post-scores"].wait_for(lambda ms: {"m-ncii", "m-removed", "m-unrelated"} <= {m["post_id"] for m in ms},
                                             120, "three scored posts")
    by_id = {m["post_id"]: m for m in scores}
    (match,) = by_id["m-ncii"]["media_matches"]["matches"]
    assert match["bank"] == "ncii" and match["entry_id"] == "stopncii-1" and 0 < match["distance"] <= 31
    assert by_id["m-unrelated"]["media_matches"]["matches"] == []

    escalations = readers["escalations"].wait_for(
        lambda ms: any(m["evidence_post_ids"] == ["m-ncii"] for m in ms), 90, "the ncii escalation")
    escalation = next(m for m in escalations if m["evidence_post_ids"] == ["m-ncii"])
    assert escalation["category"] == "ncii" and escalation["severity"] == "high"
    assert escalation["reasons"]["media_matches"][0]["bank_hash"] == original
    assert f"distance {match['distance']}" in escalation["reasons"]["summary"]
    actions = readers["platform-actions"].wait_for(
        lambda ms: {"m-ncii", "m-removed"} <= {m["subject"]["id"] for m in ms if m["kind"] == "hold_for_review"},
        60, "both posts held")
    assert not any(m["subject"]["id"] == "m-unrelated" for m in actions)


def test_a_restarted_classifier_replays_live_entries_before_it_scores_a_post(pipeline, producer):
    # Follows the test above: the ncii entry exists only on hash-bank-updates, not in a bank file.
    stack, readers = pipeline
    altered, quality = pdq_of_image(ALTERATIONS["jpeg_q30"](picture(42)))
    stack.kill_role("classifier")
    # Waiting in the posts topic when the worker comes back: scored only after the replay.
    send_posts(producer, stack.kafka.topic("posts"), [
        _post("m-after-restart", [{"type": "image", "pdq": {"hash": altered, "quality": quality}}])])
    stack.start_role("classifier")
    stack.wait_ready(["classifier"], 240)
    scores = readers["post-scores"].wait_for(lambda ms: any(m["post_id"] == "m-after-restart" for m in ms), 120,
                                             "the post sent while the classifier was down")
    scored = next(m for m in scores if m["post_id"] == "m-after-restart")
    assert [m["entry_id"] for m in scored["media_matches"]["matches"]] == ["stopncii-1"]


def test_three_accounts_sending_one_target_the_banked_image_open_a_shared_media_campaign(pipeline, producer):
    # Follows the first test: the live ncii entry is in place. The texts are benign and three posts
    # are far below the detector's ordinary floors; what makes the campaign is the shared image.
    stack, readers = pipeline
    victim_image = picture(42)
    original, _ = pdq_of_image(victim_image)
    copies = [pdq_of_image(ALTERATIONS[name](victim_image)) for name in ("resize", "jpeg_q30", "all_together")]
    send_posts(producer, stack.kafka.topic("posts"), [
        {**_post(f"m-shared-{i}", [{"type": "image", "pdq": {"hash": pdq, "quality": quality}}]),
         "author_id": f"u-spreader-{i}", "text": "look at this @dana", "reply_to_user_id": "u-dana",
         "created_at": f"2026-11-21T10:0{i}:00Z"}
        for i, (pdq, quality) in enumerate(copies)])
    alerts = readers["target-alerts"].wait_for(
        lambda ms: any(m["target_id"] == "u-dana" and m["status"] == "opened" for m in ms), 120,
        "the shared-media campaign's alert")
    opened = next(m for m in alerts if m["target_id"] == "u-dana" and m["status"] == "opened")
    contract.validate("target-alerts", opened)
    assert opened["shared_media"][0] == {"bank": "ncii", "bank_hash": original, "authors": 3, "posts": 3}
    assert any("shared_media_authors=3>=3" in reason for reason in opened["reasons"])
