"""The actions service's work without Faust: decode, decide, record.

Deciding is pure and cheap, and it owns the cooldowns, so it runs on the event loop (one agent
iteration at a time, no locks needed). Recording talks to the evidence store and runs in a worker
thread. Evidence is written before anything is sent: an action the platform sees is always in
the locker, and a crash in between only means the same (deterministic) ids are sent again. The
cooldowns a plan sets are recorded with its decisions and loaded at startup (`load_cooldowns`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from typing import Any

import orjson

from abusewatch.contract import ContractError, decode, parse_time, validate
from abusewatch.evidence.records import alert_record, decision_record, post_record
from abusewatch.evidence.store import EvidenceStore, NewRecord
from abusewatch.policy import Cooldowns, Decision, PolicyFile, Skip, decide_alert, decide_post

INPUT_TOPICS = ("post-scores", "target-alerts", "appeals")


class InvalidInput(ValueError):
    """An input message that is not JSON or does not match its topic's schema. `reason` is a short
    metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode_input(topic: str, raw: bytes | None) -> dict[str, Any]:
    """Raw bytes from an input topic -> a validated message, or InvalidInput saying why."""
    if raw is None:
        raise InvalidInput("empty", "message value is null")
    try:
        message = decode(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", f"not valid JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise InvalidInput("not_an_object", f"expected a JSON object, got {type(message).__name__}")
    try:
        validate(topic, message)
        # Schema "format" is not enforced, and the engine computes with these times.
        for timestamp in _timestamps(topic, message):
            parse_time(timestamp)
    except ContractError as exc:
        raise InvalidInput("schema_violation", str(exc)) from exc
    except ValueError as exc:
        raise InvalidInput("invalid_timestamp", str(exc)) from exc
    return message


def _timestamps(topic: str, message: dict[str, Any]) -> list[str]:
    if topic == "post-scores":
        return [message["post"]["created_at"]]
    if topic == "target-alerts":
        return [message["detected_at"], *([message["event_time"]] if message.get("event_time") else [])]
    return [message["at"]]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What one batch of input leads to: evidence to record first, then decisions to send."""

    records: list[NewRecord]
    decisions: list[Decision]
    skipped: list[Skip]
    scored_posts_by_day: dict[str, int]
    cooldowns: dict[str, tuple[float, float]]  # set while planning: key -> (acted_at, expires_at)

    @property
    def to_emit(self) -> list[Decision]:
        return [decision for decision in self.decisions if not decision.shadow]


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
        for scored in messages:
            per_day[parse_time(scored["scored_at"]).date().isoformat()] += 1
            outcome = decide_post(scored, policy=policy, cooldowns=self.cooldowns, now=now)
            flagged = outcome.matched_rules or max(scored["scores"].values()) >= self.flag_min_score
            if flagged:
                records.append(post_record(scored, outcome.matched_rules, outcome.skipped))
            records += [decision_record(decision) for decision in outcome.decisions]
            decisions += outcome.decisions
            skipped += outcome.skipped
        return Plan(records, decisions, skipped, dict(per_day), self.cooldowns.take_marks())

    def plan_alerts(self, alerts: list[dict[str, Any]], *, now: datetime) -> Plan:
        policy = self.policy.current()
        records: list[NewRecord] = []
        decisions: list[Decision] = []
        skipped: list[Skip] = []
        for alert in alerts:
            outcome = decide_alert(alert, policy=policy, cooldowns=self.cooldowns, now=now)
            records.append(alert_record(alert, outcome.matched_rules, outcome.skipped))
            records += [decision_record(decision) for decision in outcome.decisions]
            decisions += outcome.decisions
            skipped += outcome.skipped
        return Plan(records, decisions, skipped, {}, self.cooldowns.take_marks())

    def record(self, plan: Plan) -> None:
        self.store.append(plan.records, scored_posts_by_day=plan.scored_posts_by_day, cooldowns=plan.cooldowns)

    def load_cooldowns(self, limit: int) -> int:
        """Load the most recent persisted cooldowns (a worker starting). Returns how many."""
        persisted = self.store.cooldowns(limit)
        self.cooldowns.load(persisted)
        return len(persisted)
