"""Campaign authors shared between detector workers, for linking campaigns across targets.

Each worker owns some targets, so it sees only its own campaigns; a crowd that moves to a target
another worker owns must still be linked to the campaign it came from. Every worker publishes the
authors its campaigns newly claim to the internal topic `detector-campaign-authors` and reads the
whole topic (no consumer group, from the earliest offset the broker keeps) into its AuthorIndex.
Reading from the start also restores a restarted worker's index, which lives in memory only. The
topic has one partition, so every worker applies the records in the order they were published and
an author's latest campaign wins everywhere (records are one per alert: one partition is plenty).
The topic's retention bounds how far back links reach; the index's capacity bounds memory.

Records are internal JSON, not part of the public contract:
{"campaign_id", "target_id", "authors": [...], "origin": the publishing worker's id}. A worker skips
its own records (its index already has them, and an old record must not overwrite a newer entry).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson

from abusewatch.ingest.contract import Rejection, decode_object
from abusewatch.detection.stores import AuthorIndex
from abusewatch.services.common import DeadLetterSink, ServiceContext, TopicFeed

log = logging.getLogger(__name__)


class CampaignAuthorsFeed(TopicFeed):
    """Owns the worker's AuthorIndex: collects what its campaigns newly claim (`publish`, sent by
    the detect agent after `drain`) and applies every other worker's records to it."""

    client_name = "campaign-authors"

    def __init__(self, ctx: ServiceContext, topic: str, capacity: int, dead_letters: DeadLetterSink,
                 **kwargs: Any) -> None:
        super().__init__(ctx, topic, dead_letters, **kwargs)
        self.authors = AuthorIndex(capacity, on_update=self.publish)
        self.origin = uuid.uuid4().hex  # per process: a restarted worker re-reads its former self's records
        self.applied = 0  # records from other workers applied to the index
        self._outbox: list[bytes] = []

    def publish(self, campaign_id: str, target: str, authors: list[str]) -> None:
        """AuthorIndex.on_update: queue a record for the next `drain`."""
        self._outbox.append(orjson.dumps(
            {"campaign_id": campaign_id, "target_id": target, "authors": authors, "origin": self.origin}
        ))

    def drain(self) -> list[bytes]:
        records, self._outbox = self._outbox, []
        return records

    def apply(self, value: bytes | None) -> Rejection | None:
        """Apply one record from the topic, or say why it is not a valid one (nothing applied)."""
        record = decode_object(value) if value is not None else Rejection("invalid_json", "message value is null")
        if isinstance(record, Rejection):
            return record
        fields_ok = all(isinstance(record.get(name), str) for name in ("campaign_id", "target_id", "origin"))
        authors = record.get("authors")
        if not (fields_ok and isinstance(authors, list) and all(isinstance(a, str) for a in authors)):
            return Rejection(
                "schema_violation",
                "a campaign-authors record needs string campaign_id, target_id and origin, and a list of string authors",
            )
        if record["origin"] != self.origin:
            self.authors.record_campaign(record["campaign_id"], record["target_id"], record["authors"], publish=False)
            self.applied += 1
        return None
