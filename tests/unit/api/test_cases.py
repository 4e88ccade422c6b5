"""Case views over a real (SQLite) evidence locker, filled by the actions service's own record
builders, read directly and through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from abusewatch.api.app import create_api
from abusewatch.api.cases import EvidenceCaseReader
from abusewatch.api.settings import ApiSettings
from abusewatch.ingest.contract import SCHEMA_DIR, format_time, utcnow
from abusewatch.evidence import EvidenceStore, open_store
from abusewatch.evidence.records import alert_record, appeal_record, decision_record, post_record
from abusewatch.policy import Decision

TOKEN = "cases-test-token"
ESCALATION_ID = "esc-1"


def example(topic: str) -> dict:
    return json.loads((SCHEMA_DIR / "examples" / f"{topic}.json").read_text())


def alert(campaign_id: str, status: str, minutes_ago: int, alert_id: str) -> dict:
    return example("target-alerts") | {
        "alert_id": alert_id,
        "campaign_id": campaign_id,
        "status": status,
        "detected_at": format_time(utcnow() - timedelta(minutes=minutes_ago)),
    }


@pytest.fixture
def locker_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'evidence.sqlite3'}"


@pytest.fixture
def locker(locker_dsn: str) -> Iterator[EvidenceStore]:
    store = open_store(locker_dsn)
    scored = example("post-scores") | {"post_id": "p-2210"}
    scored["post"] = scored["post"] | {"post_id": "p-2210"}
    escalation = example("escalations") | {
        "escalation_id": ESCALATION_ID,
        "campaign_id": "c-open",
        "evidence_post_ids": ["p-2210", "p-never-flagged"],
    }
    decision = Decision(
        rule_id="threat.escalate",
        topic="escalations",
        key=ESCALATION_ID,
        message=escalation,
        shadow=False,
        trigger_time=utcnow(),
    )
    store.append(
        [
            alert_record(alert("c-open", "opened", 30, "a-1"), (), ()),
            alert_record(alert("c-closed", "opened", 25, "a-2"), (), ()),
            post_record(scored, ("threat.escalate",), ()),
            alert_record(alert("c-open", "escalating", 20, "a-3"), (), ()),
            alert_record(alert("c-closed", "closed", 10, "a-4"), (), ()),
            decision_record(decision),
            appeal_record(example("appeals") | {"decision_id": ESCALATION_ID}),
        ]
    )
    yield store
    store.close()


def reader(store: EvidenceStore) -> EvidenceCaseReader:
    return EvidenceCaseReader(store, campaign_lookback=timedelta(hours=24), history_limit=100)


def test_open_campaigns_are_those_whose_latest_alert_is_not_closed(locker: EvidenceStore) -> None:
    campaigns = asyncio.run(reader(locker).open_campaigns())
    assert [c["campaign_id"] for c in campaigns] == ["c-open"]
    (campaign,) = campaigns
    assert (campaign["status"], campaign["alerts"], campaign["target_id"]) == ("escalating", 2, "u-maria")
    assert campaign["latest_alert"]["alert_id"] == "a-3"


def test_alerts_older_than_the_lookback_are_not_considered(locker: EvidenceStore) -> None:
    short = EvidenceCaseReader(locker, campaign_lookback=timedelta(minutes=5), history_limit=100)
    assert asyncio.run(short.open_campaigns()) == []


def test_target_history_is_every_record_about_the_target_in_chain_order(locker: EvidenceStore) -> None:
    history = asyncio.run(reader(locker).target_history("u-maria"))
    assert [record["kind"] for record in history] == ["alert", "alert", "post", "alert", "alert", "decision"]
    assert [record["seq"] for record in history] == sorted(record["seq"] for record in history)
    assert all(len(record["hash"]) == 64 for record in history)
    limited = EvidenceCaseReader(locker, campaign_lookback=timedelta(hours=1), history_limit=2)
    assert [r["kind"] for r in asyncio.run(limited.target_history("u-maria"))] == ["alert", "decision"]
    assert asyncio.run(reader(locker).target_history("u-nobody")) == []


def test_escalation_comes_with_its_evidence(locker: EvidenceStore) -> None:
    found = asyncio.run(reader(locker).escalation(ESCALATION_ID))
    assert found["escalation"]["escalation_id"] == ESCALATION_ID
    assert found["shadow"] is False
    assert [post["payload"]["scored"]["post_id"] for post in found["evidence_posts"]] == ["p-2210"]
    assert found["missing_post_ids"] == ["p-never-flagged"]
    assert [a["payload"]["alert"]["alert_id"] for a in found["campaign_alerts"]] == ["a-1", "a-3"]
    assert [a["payload"]["appeal_id"] for a in found["appeals"]] == ["ap-311"]
    assert asyncio.run(reader(locker).escalation("esc-unknown")) is None


class UnusedScorer:
    ready = True
    model_info = {"name": "unused", "version": "0"}
    languages = ("en",)

    async def score(self, texts, *, wait=True):
        raise AssertionError("read endpoints never score")


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real socket (a free port), and a client that sends the token."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, timeout=10) as client:
            yield client
    finally:
        await runner.cleanup()


def test_read_endpoints_over_http(locker: EvidenceStore) -> None:
    async def scenario() -> None:
        app = await create_api(ApiSettings(token=TOKEN), scorer=UnusedScorer(), cases=reader(locker))
        async with serving(app) as client:
            campaigns = await client.get("/v1/campaigns/open")
            assert campaigns.status_code == 200
            assert [c["campaign_id"] for c in campaigns.json()["campaigns"]] == ["c-open"]

            history = await client.get("/v1/targets/u-maria/history")
            assert history.status_code == 200
            assert history.json()["target_id"] == "u-maria"
            assert len(history.json()["records"]) == 6

            found = await client.get(f"/v1/escalations/{ESCALATION_ID}")
            assert found.status_code == 200
            assert found.json()["escalation"]["severity"] == "critical"

            missing = await client.get("/v1/escalations/esc-unknown")
            assert missing.status_code == 404
            assert missing.json()["error"]["status"] == "NOT_FOUND"

            anonymous = await client.get("/v1/campaigns/open", headers={"Authorization": ""})
            assert anonymous.status_code == 401
            # ?key= is for Perspective clients only; case data needs the header.
            keyed = await client.get(f"/v1/campaigns/open?key={TOKEN}", headers={"Authorization": ""})
            assert keyed.status_code == 401

    asyncio.run(scenario())


def test_the_default_case_reader_opens_the_configured_locker(
    locker: EvidenceStore, locker_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABUSEWATCH_EVIDENCE_DSN", locker_dsn)

    async def scenario() -> None:
        app = await create_api(ApiSettings(token=TOKEN), scorer=UnusedScorer())
        async with serving(app) as client:
            response = await client.get("/v1/campaigns/open")
            assert [c["campaign_id"] for c in response.json()["campaigns"]] == ["c-open"]

    asyncio.run(scenario())
