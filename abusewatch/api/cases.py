"""Read-only case views for trust-and-safety tooling: open campaigns, a target's history, an
escalation with its evidence.

The API depends on the small `CaseReader` protocol. `EvidenceCaseReader` implements it over the
evidence locker (abusewatch.evidence), using the record kinds and lookup keys that
abusewatch/evidence/records.py writes:

- alert     {"alert": <target-alerts message>, ...}           keys target:ID, campaign:ID
- post      {"scored": <post-scores message>, ...}             keys post:ID, author:ID, target:ID
- decision  {"topic", "shadow", "message": <escalation|action>} keys decision:ID, target:ID, ...
- appeal    <appeals message>                                   keys appeal:ID, appealed:DECISION_ID

Every record is returned with its chain position and hash, so that what a reviewer reads can be
checked against an exported, verified case bundle.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from abusewatch.ingest.contract import format_time, utcnow
from abusewatch.evidence import ChainRecord, EvidenceStore


class CaseReader(Protocol):
    """What the read endpoints need. Methods are coroutines: stores may block on a database."""

    async def open_campaigns(self) -> list[dict[str, Any]]: ...

    async def target_history(self, target_id: str) -> list[dict[str, Any]]: ...

    async def escalation(self, escalation_id: str) -> dict[str, Any] | None: ...


def record_view(record: ChainRecord) -> dict[str, Any]:
    """A stored record as the API shows it: the payload plus where it sits in the chain."""
    return {
        "seq": record.seq,
        "kind": record.kind,
        "occurred_at": record.occurred_at,
        "recorded_at": record.recorded_at,
        "hash": record.hash,
        "payload": record.payload,
    }


def open_campaigns_from_alerts(alerts: Iterable[ChainRecord]) -> list[dict[str, Any]]:
    """Campaigns whose latest alert is not `closed`, most recently alerted first.

    `alerts` are alert records in chain order; a campaign's alerts share its campaign_id, and the
    latest one carries its current status and counts.
    """
    campaigns: dict[str, dict[str, Any]] = {}
    for record in alerts:
        alert = record.payload["alert"]
        campaign = campaigns.get(alert["campaign_id"])
        if campaign is None:
            campaign = campaigns[alert["campaign_id"]] = {
                "campaign_id": alert["campaign_id"],
                "target_id": alert["target_id"],
                "first_detected_at": alert["detected_at"],
                "alerts": 0,
            }
        campaign["alerts"] += 1
        campaign["status"] = alert["status"]
        campaign["last_detected_at"] = alert["detected_at"]
        campaign["latest_alert"] = alert
        campaign["latest_alert_seq"] = record.seq
    still_open = [campaign for campaign in campaigns.values() if campaign["status"] != "closed"]
    return sorted(still_open, key=lambda campaign: campaign["last_detected_at"], reverse=True)


@dataclasses.dataclass(frozen=True)
class EvidenceCaseReader:
    """`CaseReader` over an `EvidenceStore`. The store's calls block, so they run in a thread."""

    store: EvidenceStore
    campaign_lookback: timedelta
    history_limit: int

    async def open_campaigns(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or utcnow()
        alerts = await asyncio.to_thread(
            self.store.by_kind,
            "alert",
            occurred_from=format_time(now - self.campaign_lookback),
            # Alerts may carry a detected_at slightly ahead of this clock; do not drop them.
            occurred_to=format_time(now + timedelta(days=1)),
        )
        return open_campaigns_from_alerts(alerts)

    async def target_history(self, target_id: str) -> list[dict[str, Any]]:
        records = await asyncio.to_thread(self.store.by_key, f"target:{target_id}")
        return [record_view(record) for record in records[-self.history_limit :]]

    async def escalation(self, escalation_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._escalation, escalation_id)

    def _escalation(self, escalation_id: str) -> dict[str, Any] | None:
        found = [
            record
            for record in self.store.by_key(f"decision:{escalation_id}", kinds=("decision",))
            if record.payload["topic"] == "escalations"
        ]
        if not found:
            return None
        record = found[0]
        escalation = record.payload["message"]
        posts: list[ChainRecord] = []
        for post_id in escalation["evidence_post_ids"]:
            posts += self.store.by_key(f"post:{post_id}", kinds=("post",))
        recorded_post_ids = {record.payload["scored"]["post_id"] for record in posts}
        campaign_id = escalation.get("campaign_id") or escalation["reasons"].get("campaign_id")
        alerts = self.store.by_key(f"campaign:{campaign_id}", kinds=("alert",)) if campaign_id else []
        appeals = self.store.by_key(f"appealed:{escalation_id}", kinds=("appeal",))
        return {
            "escalation": escalation,
            "shadow": record.payload["shadow"],
            "record": record_view(record),
            "evidence_posts": [record_view(post) for post in posts],
            # Posts named as evidence but not in the locker (e.g. scored below the flag threshold
            # before the rule fired, or purged by retention): say so rather than hide the gap.
            "missing_post_ids": [pid for pid in escalation["evidence_post_ids"] if pid not in recorded_post_ids],
            "campaign_alerts": [record_view(alert) for alert in alerts],
            "appeals": [record_view(appeal) for appeal in appeals],
        }
