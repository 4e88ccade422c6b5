"""Cooldowns survive a restart: they are written with the decisions that set them and loaded by a
new processor, so the next alert within a rule's cooldown does not renew the limit early (it did
when cooldowns lived only in a worker's memory). On both backends."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from abusewatch.evidence import open_store
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.actions.processing import ActionsProcessor

from tests.unit.evidence.test_chain import dsn  # noqa: F401 - the fixture (SQLite file, PostgreSQL schema)
from tests.unit.policy.test_engine import alert

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
LIMIT_RULE = "pile_on.shield_target"  # limit_replies_to_target, cooldown 900 s (15-minute buckets)


def processor(store, max_entries: int = 100_000) -> ActionsProcessor:
    return ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"),
        store=store,
        flag_min_score=0.5,
        cooldowns=Cooldowns(max_entries),
    )


def limits(plan) -> list[str]:
    return [d.id for d in plan.decisions if d.message.get("kind") == "limit_replies_to_target"]


def test_a_restarted_processor_does_not_renew_a_limit_within_its_cooldown(dsn):  # noqa: F811
    store = open_store(dsn)
    # 09:14 and 09:16 fall in different 15-minute id buckets but within 900 s of each other.
    first_alert = alert(alert_id="a-1", detected="2026-11-21T09:14:50.000Z")
    second_alert = alert(alert_id="a-2", detected="2026-11-21T09:16:40.000Z")

    before = processor(store)
    first = before.plan_alerts([first_alert], now=NOW)
    before.record(first)
    assert len(limits(first)) == 1

    # Without the persisted cooldowns (the old behaviour) the second alert renews the limit at once.
    forgetful = processor(store).plan_alerts([second_alert], now=NOW)
    assert len(limits(forgetful)) == 1 and limits(forgetful) != limits(first)

    restarted = processor(store)
    assert restarted.load_cooldowns(limit=100) == 2  # the limit and the escalation
    second = restarted.plan_alerts([second_alert], now=NOW)
    assert limits(second) == []
    assert [(s.rule_id, s.kind, s.reason) for s in second.skipped] == [
        (LIMIT_RULE, "limit_replies_to_target", "cooldown"),
        (LIMIT_RULE, "escalate", "cooldown"),
    ]
    # After the cooldown the limit is renewed as before.
    later = restarted.plan_alerts([alert(alert_id="a-3", detected="2026-11-21T09:30:00.000Z")], now=NOW)
    assert len(limits(later)) == 1
    store.close()


def test_persisted_cooldowns_keep_the_latest_mark_and_expire_with_purge(dsn):  # noqa: F811
    store = open_store(dsn, clock=lambda: datetime.fromtimestamp(5_000, timezone.utc))
    store.append([], cooldowns={"r|k|s1": (1_000.0, 1_900.0), "r|k|s2": (4_000.0, 9_000.0)})
    store.append([], cooldowns={"r|k|s1": (500.0, 1_400.0)})  # an older mark (another worker) loses
    assert store.cooldowns(10) == {"r|k|s2": 4_000.0, "r|k|s1": 1_000.0}
    assert store.cooldowns(1) == {"r|k|s2": 4_000.0}  # the most recent first
    # A backlog decided in event time before the wall clock: s3's cooldown ends at 4,500, after the
    # newest decision (4,000), though the wall clock (5,000) is past it.
    store.append([], cooldowns={"r|k|s3": (3_500.0, 4_500.0)})
    # Another worker, behind the newest decision by less than the margin: s4 ended at 3,200, past
    # the newest decision (4,000) but within its 1,000 s margin.
    store.append([], cooldowns={"r|k|s4": (2_500.0, 3_200.0)})
    store.purge(datetime(2020, 1, 1, tzinfo=timezone.utc), cooldown_margin_s=1_000.0)  # s1's ended at 1,900 < 4,000 - 1,000
    assert store.cooldowns(10) == {"r|k|s2": 4_000.0, "r|k|s3": 3_500.0, "r|k|s4": 2_500.0}
    store.close()


def test_cooldowns_hand_out_their_marks_once_and_load_keeps_the_newest():
    cooldowns = Cooldowns(max_entries=2)
    cooldowns.mark("a", 10.0, 100)
    assert cooldowns.take_marks() == {"a": (10.0, 110.0)}
    assert cooldowns.take_marks() == {}
    cooldowns.load({"a": 5.0, "b": 20.0, "c": 30.0})
    assert len(cooldowns) == 2 and cooldowns.ready("a", 11.0, 100)  # the oldest ("a") made way
    assert not cooldowns.ready("c", 31.0, 100)
