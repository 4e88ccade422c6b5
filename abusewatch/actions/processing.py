"""The actions service's work without Faust: decode, decide, record.

Deciding is pure and cheap, and it owns the cooldowns, so it runs on the event loop (one agent
iteration at a time, no locks needed). Recording talks to the evidence store and runs in a worker
thread. Evidence is written before anything is sent: an action the platform sees is always in
the locker, and a crash in between only means the same (deterministic) ids are sent again. The
cooldowns a plan sets are recorded with its decisions and loaded at startup (`load_cooldowns`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from abusewatch.ingest.contract import parse_time
from abusewatch.evidence.records import alert_record, decision_record, post_record
from abusewatch.evidence.store import EvidenceStore, NewRecord
from abusewatch.policy import Cooldowns, Decision, PolicyFile, Skip, decide_alert, decide_post

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What one batch of input leads to: evidence to record first, then decisions to send."""

    records: list[NewRecord]
    decisions: list[Decision]
    skipped: list[Skip]
    scored_posts_by_day: dict[str, int]
    cooldowns: dict[str, tuple[float, float]]  # set while planning: key -> (acted_at, expires_at)
    # Inputs the policy could not decide on (a bug, not bad input: input is validated before), by
    # position in the batch, with the error; the service dead-letters them and goes on.
    failed: list[tuple[int, Exception]] = dataclasses.field(default_factory=list)
    # Parallel to decisions: the position in the batch of the input each came from (its trace).
    origins: list[int] = dataclasses.field(default_factory=list)


class ActionsProcessor:
    def __init__(
        self, *, policy: PolicyFile, store: EvidenceStore, flag_min_score: float, cooldowns: Cooldowns
    ) -> None:
        self.policy = policy
        self.store = store
        self.flag_min_score = flag_min_score
        self.cooldowns = cooldowns

    def plan_post_scores(self, messages: list[dict[str, Any]], *, now: datetime) -> Plan:
        policy = self.policy.current()
        records: list[NewRecord] = []
        decisions: list[Decision] = []
        skipped: list[Skip] = []
        per_day: Counter[str] = Counter()
        failed: list[tuple[int, Exception]] = []
        origins: list[int] = []
        for index, scored in enumerate(messages):
            try:
                outcome = decide_post(scored, policy=policy, cooldowns=self.cooldowns, now=now)
                flagged = outcome.matched_rules or max(scored["scores"].values(), default=0.0) >= self.flag_min_score
                post_records = [post_record(scored, outcome.matched_rules, outcome.skipped)] if flagged else []
                post_records += [decision_record(decision) for decision in outcome.decisions]
            except Exception as exc:  # noqa: BLE001 - one message's fault must not stop the batch
                log.exception("policy failed on post-scores %r", scored.get("post_id"))
                failed.append((index, exc))
                continue
            per_day[parse_time(scored["scored_at"]).date().isoformat()] += 1
            records += post_records
            decisions += outcome.decisions
            origins += [index] * len(outcome.decisions)
            skipped += outcome.skipped
        return Plan(records, decisions, skipped, dict(per_day), self.cooldowns.take_marks(), failed, origins)

    def plan_alerts(self, alerts: list[dict[str, Any]], *, now: datetime) -> Plan:
        policy = self.policy.current()
        records: list[NewRecord] = []
        decisions: list[Decision] = []
        skipped: list[Skip] = []
        failed: list[tuple[int, Exception]] = []
        origins: list[int] = []
        for index, alert in enumerate(alerts):
            try:
                outcome = decide_alert(alert, policy=policy, cooldowns=self.cooldowns, now=now)
                alert_records = [alert_record(alert, outcome.matched_rules, outcome.skipped)]
                alert_records += [decision_record(decision) for decision in outcome.decisions]
            except Exception as exc:  # noqa: BLE001 - one message's fault must not stop the batch
                log.exception("policy failed on alert %r", alert.get("alert_id"))
                failed.append((index, exc))
                continue
            records += alert_records
            decisions += outcome.decisions
            origins += [index] * len(outcome.decisions)
            skipped += outcome.skipped
        return Plan(records, decisions, skipped, {}, self.cooldowns.take_marks(), failed, origins)

    def record(self, plan: Plan) -> None:
        self.store.append(plan.records, scored_posts_by_day=plan.scored_posts_by_day, cooldowns=plan.cooldowns)

    def load_cooldowns(self, limit: int) -> int:
        """Load the most recent persisted cooldowns (a worker starting). Returns how many."""
        persisted = self.store.cooldowns(limit)
        self.cooldowns.load(persisted)
        return len(persisted)
