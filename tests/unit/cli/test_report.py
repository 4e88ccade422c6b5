"""The transparency report against a known stream: counts per day, reversal rate, percentiles."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from abusewatch.cli import report
from abusewatch.common.stats import percentile
from abusewatch.actions.appeals import handle_appeal
from abusewatch.ingest.contract import SCHEMA_DIR
from abusewatch.evidence import open_store
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.actions.processing import ActionsProcessor

ROOT = Path(__file__).resolve().parents[3]
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def scored(post_id, created, doxxing=False, **scores):
    message = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    message.update(post_id=post_id, author_id=f"a-{post_id}", scores={**BENIGN, **scores}, scored_at=created)
    message["post"].update(post_id=post_id, author_id=f"a-{post_id}", created_at=created)
    message["doxxing"] = {"detected": doxxing, "kinds": ["phone"] if doxxing else []}
    return message


def appeal(decision_id, appeal_id, event, at_text, outcome=None):
    return {
        "schema": "appeals/v1", "appeal_id": appeal_id, "event": event, "decision_id": decision_id,
        "outcome": outcome, "at": at_text,
    }


@pytest.fixture
def dsn(tmp_path):
    """Three days: threat and doxxing on day 1 (plus a shadow decision), a pile-on and an
    overturned appeal on day 2, an upheld appeal on day 3."""
    dsn = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
    store = open_store(dsn)
    processor = ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
    )

    def posts(messages, now):
        plan = processor.plan_post_scores(messages, now=at(now))
        processor.record(plan)
        return plan.decisions

    threat = posts([scored("p1", "2026-03-01T10:00:00Z", threat=0.9)], "2026-03-01T10:00:02")
    posts([scored("p2", "2026-03-01T11:00:00Z", doxxing=True), scored("p3", "2026-03-01T11:00:01Z")], "2026-03-01T11:00:10")
    posts([scored("p4", "2026-03-01T12:00:00Z", insult=0.98, toxicity=0.97)], "2026-03-01T12:00:03")  # shadow
    posts([scored("p5", "2026-03-02T08:00:00Z"), scored("p6", "2026-03-02T08:30:00Z")], "2026-03-02T08:30:01")
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    alert.update(event_time="2026-03-02T09:00:00Z", detected_at="2026-03-02T09:00:30Z")
    plan = processor.plan_alerts([alert], now=at("2026-03-02T09:01:00"))
    processor.record(plan)
    limit = next(d.id for d in plan.decisions if d.topic == "platform-actions")
    throttle = next(d.id for d in threat if d.topic == "platform-actions")
    handle_appeal(appeal(limit, "ap1", "filed", "2026-03-02T10:00:00Z"), store, now=at("2026-03-02T10:00:00"))
    handle_appeal(appeal(throttle, "ap2", "filed", "2026-03-02T10:05:00Z"), store, now=at("2026-03-02T10:05:00"))
    handle_appeal(appeal(limit, "ap1", "decided", "2026-03-02T12:00:00Z", "overturned"), store, now=at("2026-03-02T12:00:00"))
    handle_appeal(appeal(throttle, "ap2", "decided", "2026-03-03T09:00:00Z", "upheld"), store, now=at("2026-03-03T09:00:00"))
    store.close()
    return dsn


def test_report_numbers_per_day_and_in_total(dsn):
    store = open_store(dsn)
    result = report.build_report(store, date(2026, 3, 1), date(2026, 3, 3))
    store.close()
    day1, day2, day3 = result["days"]
    assert day1["posts_scored"] == 4
    assert day1["actions"] == {
        "total": 2,
        "by_kind": {"hold_for_review": 1, "throttle_author": 1},
        "by_rule": {"doxxing.targeted": 1, "threat.credible": 1},
    }
    assert day1["escalations"] == {"total": 2, "by_severity": {"critical": 1, "high": 1}}
    assert day1["shadow_decisions"] == 1
    assert day1["response_time_s"] == {"decisions": 4, "p50": 2.0, "p95": 10.0, "p99": 10.0}

    assert day2["posts_scored"] == 2
    assert day2["actions"]["by_kind"] == {"limit_replies_to_target": 1}
    assert day2["revocations"] == 1
    assert day2["appeals"] == {"filed": 2, "decided": 1, "overturned": 1, "reversal_rate": 1.0}
    assert day2["response_time_s"]["p50"] == 60.0  # from the alert's triggering event

    assert day3["appeals"] == {"filed": 0, "decided": 1, "overturned": 0, "reversal_rate": 0.0}
    assert day3["response_time_s"] == {"decisions": 0, "p50": None, "p95": None, "p99": None}

    total = result["total"]
    assert (total["posts_scored"], total["actions"]["total"], total["escalations"]["total"]) == (6, 3, 3)
    assert total["appeals"]["reversal_rate"] == 0.5
    assert total["response_time_s"] == {"decisions": 6, "p50": 10.0, "p95": 60.0, "p99": 60.0}


def test_a_range_excludes_other_days(dsn):
    store = open_store(dsn)
    only_day2 = report.build_report(store, date(2026, 3, 2), date(2026, 3, 2))
    store.close()
    assert [d["day"] for d in only_day2["days"]] == ["2026-03-02"]
    assert only_day2["total"]["posts_scored"] == 2 and only_day2["total"]["escalations"]["total"] == 1


def test_percentile_is_nearest_rank():
    values = sorted(float(n) for n in range(1, 101))
    assert [percentile(values, p) for p in (50, 95, 99)] == [50.0, 95.0, 99.0]
    assert percentile([], 50) is None


def test_cli_prints_and_writes_json_and_csv(dsn, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    out = tmp_path / "out"
    assert report.run(parser.parse_args(["--from", "2026-03-01", "--to", "2026-03-03", "--out", str(out), "--dsn", dsn])) == 0
    printed = capsys.readouterr().out
    assert "2026-03-02" in printed and "actions by rule: doxxing.targeted 1" in printed
    assert json.loads((out / "report.json").read_text())["total"]["posts_scored"] == 6
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [row["day"] for row in rows] == ["2026-03-01", "2026-03-02", "2026-03-03", "total"]
    assert rows[1]["actions_kind_limit_replies_to_target"] == "1" and rows[0]["actions_kind_limit_replies_to_target"] == "0"
    assert rows[3]["reversal_rate"] == "0.5"
