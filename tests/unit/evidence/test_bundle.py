"""Case bundles: exported from a locker filled by the actions processor, verified offline, and
tampering with any file (or with records and manifest together) is caught."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from abusewatch.ingest.contract import SCHEMA_DIR
from abusewatch.evidence import open_store
from abusewatch.evidence.bundle import export_bundle, verify_bundle, verify_bundle_against_store
from abusewatch.cli.evidence import add_arguments, run
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.actions.processing import ActionsProcessor

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 9, 20, tzinfo=timezone.utc)
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}


def scored(post_id, author, target, **scores):
    message = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    message.update(post_id=post_id, author_id=author, targets=[target], scores={**BENIGN, **scores})
    message["post"].update(post_id=post_id, author_id=author, url=f"https://social.example/p/{post_id}")
    return message


@pytest.fixture
def locker(tmp_path):
    dsn = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
    store = open_store(dsn)
    processor = ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
    )
    posts = [
        scored("p-1", "u-1", "u-maria", toxicity=0.9, insult=0.8),
        scored("p-2", "u-2", "u-maria", toxicity=0.95, threat=0.91),
        scored("p-3", "u-3", "u-other", toxicity=0.1),  # benign, another target: not in the bundle
    ]
    processor.record(processor.plan_post_scores(posts, now=NOW))
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    alert["top_post_ids"] = ["p-1", "p-2"]
    processor.record(processor.plan_alerts([alert], now=NOW))
    yield dsn, store, alert["campaign_id"]
    store.close()


def test_export_by_target_holds_posts_scores_and_decisions_and_verifies(locker, tmp_path):
    dsn, store, _ = locker
    bundle = export_bundle(store, tmp_path / "case", now=NOW, target_id="u-maria")
    assert verify_bundle(bundle) == []
    assert verify_bundle_against_store(bundle, store) == []
    posts_csv = (bundle / "posts.csv").read_text().splitlines()
    assert posts_csv[0].startswith("post_id,created_at,url,author_id,targets,text,toxicity")
    assert sorted(line.split(",")[0] for line in posts_csv[1:]) == ["p-1", "p-2"]
    assert "https://social.example/p/p-2" in posts_csv[2]
    decisions = [json.loads(line) for line in (bundle / "decisions.jsonl").read_text().splitlines()]
    assert {d["rule_id"] for d in decisions} == {"threat.credible", "pile_on.shield_target"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["subject"] == {"target_id": "u-maria"}
    assert set(manifest["files"]) == {"records.jsonl", "checkpoints.jsonl", "posts.csv", "decisions.jsonl", "alerts.jsonl", "appeals.jsonl"}
    assert manifest["signatures"]["checkpoints"] == 0 and manifest["signatures"]["unsigned_records"]  # no key here


def test_export_by_campaign_includes_the_posts_its_alerts_cite(locker, tmp_path):
    _, store, campaign_id = locker
    bundle = export_bundle(store, tmp_path / "case", now=NOW, campaign_id=campaign_id)
    kinds = [r["kind"] for r in json.loads((bundle / "manifest.json").read_text())["records"]]
    assert sorted(kinds) == ["alert", "decision", "decision", "post", "post"]
    assert verify_bundle(bundle) == []


@pytest.mark.parametrize(
    "file, edit, problem",
    [
        ("posts.csv", lambda t: t.replace("0.91", "0.11"), "posts.csv: SHA-256 does not match"),
        ("records.jsonl", lambda t: t.replace('"threat":0.91', '"threat":0.11'), "records.jsonl: seq 2: content does not match"),
        ("decisions.jsonl", lambda t: t.replace("critical", "low"), "decisions.jsonl: SHA-256 does not match"),
    ],
)
def test_editing_a_bundle_file_is_detected(locker, tmp_path, file, edit, problem):
    _, store, _ = locker
    bundle = export_bundle(store, tmp_path / "case", now=NOW, target_id="u-maria")
    path = bundle / file
    edited = edit(path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    problems = verify_bundle(bundle)
    assert any(problem in p for p in problems), problems


def test_a_consistent_forgery_of_view_and_manifest_is_still_caught(locker, tmp_path):
    import hashlib

    _, store, _ = locker
    bundle = export_bundle(store, tmp_path / "case", now=NOW, target_id="u-maria")
    csv_path, manifest_path = bundle / "posts.csv", bundle / "manifest.json"
    csv_path.write_text(csv_path.read_text().replace("0.91", "0.11"))
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["posts.csv"] = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    assert verify_bundle(bundle) == ["posts.csv: differs from what records.jsonl says"]


def test_cli_export_and_verify(locker, tmp_path, capsys):
    import argparse

    dsn, _, _ = locker

    def cli(*argv):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return run(parser.parse_args(["--dsn", dsn, *argv]))

    assert cli("export", "--target", "u-maria", "--out", str(tmp_path / "case")) == 0
    assert cli("verify", str(tmp_path / "case")) == 0
    assert cli("verify", "--db") == 0
    assert cli("verify", str(tmp_path / "case"), "--db") == 0
    (tmp_path / "case" / "alerts.jsonl").write_text("{}\n")
    assert cli("verify", str(tmp_path / "case")) == 1
    assert "TAMPERED: alerts.jsonl" in capsys.readouterr().out
