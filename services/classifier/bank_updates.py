"""Live hash bank updates for one classifier worker: every `hash-bank-updates` message, applied
to the worker's HashBanks as it arrives (no restart).

Every worker must hold every bank entry, so each reads the whole topic itself (a TopicFeed, as the
detector's campaign-authors feed is); reading from the start also restores a restarted worker's
live additions on top of the bank files. The worker scores no post and is not ready before the feed
has caught up, so no post is checked against a bank missing its live
additions. The topic is created without retention limit (abusewatch/ingest/topics.py); on a topic
made otherwise, retention must outlast any live addition not yet written to a bank file
(docs/media.md). A message that is not a valid update is dead-lettered and skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Gauge

from abusewatch.ingest.contract import Rejection, validate_message
from abusewatch.scoring.media.banks import HashBanks, apply_update
from abusewatch.services.common import DeadLetterSink, ServiceContext, TopicFeed

log = logging.getLogger(__name__)


class BankUpdatesFeed(TopicFeed):
    client_name = "hash-bank-updates"

    def __init__(self, ctx: ServiceContext, topic: str, banks: HashBanks, dead_letters: DeadLetterSink,
                 **kwargs: Any) -> None:
        super().__init__(ctx, topic, dead_letters, **kwargs)
        self.banks = banks
        registry = ctx.metrics.registry
        self.applied = Counter("abusewatch_hash_bank_updates", "Hash bank updates applied, by bank and op",
                               ["bank", "op"], registry=registry)
        self.entries = Gauge("abusewatch_hash_bank_entries", "Entries held per hash bank", ["bank"],
                             registry=registry)
        self.record_sizes()

    def record_sizes(self) -> None:
        for bank, size in self.banks.sizes().items():
            self.entries.labels(bank).set(size)

    def apply(self, value: bytes | None) -> Rejection | None:
        """Apply one message, or say why it is not a valid update (nothing applied)."""
        update = validate_message("hash-bank-updates", value)
        if isinstance(update, Rejection):
            return update
        try:
            changed = apply_update(self.banks, update)
        except ValueError as exc:
            return Rejection("schema_violation", f"hash-bank-updates: {exc}")
        self.applied.labels(update["bank"], update["op"]).inc()
        self.entries.labels(update["bank"]).set(self.banks.sizes().get(update["bank"], 0))
        log.info("hash bank %s: %s %d of %d entries (update %s)", update["bank"], update["op"], changed,
                 len(update["entries"]), update["update_id"])
        return None
