"""What the actions service records per batch: flagged posts only, every decision (shadow ones
marked), per-day counts of posts scored; a replayed batch (at-least-once delivery after a crash)
repeats the same ids and records nothing twice. Malformed input is rejected with a reason."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from abusewatch.ingest.contract import SCHEMA_DIR
from abusewatch.evidence import open_store
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.ingest.contract import Rejection, validate_message
from abusewatch.actions.processing import ActionsProcessor

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 9, 20, tzinfo=timezone.utc)
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}


def scored(post_id, **scores):
    message = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    message.update(post_id=post_id, scores={**BENIGN, **scores})
    message["post"]["post_id"] = post_id
    return message


def test_replayed_batch_repeats_ids_and_records_once(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}")
    batch = [scored("p-1", threat=0.9), scored("p-2"), scored("p-3", insult=0.99, toxicity=0.99)]

    def process(now):
        # A restarted worker: fresh cooldowns, the same input.
        processor = ActionsProcessor(
            policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
        )
        plan = processor.plan_post_scores(batch, now=now)
        processor.record(plan)
        return plan

    first = process(NOW)
    assert [d.rule_id for d in [d for d in first.decisions if not d.shadow]] == ["threat.credible", "threat.credible"]
    assert [(d.rule_id, d.shadow) for d in first.decisions if d.shadow] == [("insult.severe_author_throttle", True)]
    kinds = [r.kind for r in store.iter_chain()]
    assert kinds == ["post", "decision", "decision", "post", "decision"]  # p-2 is benign: counted, not kept
    assert store.scored_posts("2026-11-21", "2026-11-21") == {"2026-11-21": 3}

    replay = process(NOW + timedelta(minutes=2))
    assert [d.id for d in replay.decisions] == [d.id for d in first.decisions]
    assert [r.kind for r in store.iter_chain()] == kinds
    assert store.verify().ok
    store.close()


@pytest.mark.parametrize(
    "raw, reason",
    [
        (None, "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_utf8"),
        (b"[1, 2]", "not_an_object"),
        (orjson.dumps({"schema": "post-scores/v1"}), "schema_violation"),
    ],
)
def test_malformed_input_is_rejected_with_a_reason(raw, reason):
    rejection = validate_message("post-scores", raw)
    assert isinstance(rejection, Rejection)
    assert rejection.code == reason, rejection.message


def test_bad_timestamps_are_rejected():
    message = scored("p-1")
    message["post"]["created_at"] = "2026-11-21T09:14:03"  # no offset: ambiguous
    rejection = validate_message("post-scores", orjson.dumps(message))
    assert isinstance(rejection, Rejection) and rejection.code == "invalid_timestamp"
    assert validate_message("post-scores", orjson.dumps(scored("p-2")))["post_id"] == "p-2"
