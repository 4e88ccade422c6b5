"""Actions service: post-scores, target-alerts and appeals -> evidence -> platform-actions, escalations.

Each agent reads decode -> decide (abusewatch.policy, pure) -> record (evidence store, in a worker
thread) -> send. Malformed input is counted (abusewatch_actions_invalid_input_total), logged and
skipped; only the classifier dead-letters (posts-dlq is for posts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge

from abusewatch import config
from abusewatch.appeals import InvalidAppeal, handle_appeal
from abusewatch.contract import encode, utcnow
from abusewatch.evidence.settings import EvidenceSettings
from abusewatch.evidence.store import open_store
from abusewatch.policy import Cooldowns, Decision, PolicyFile, Skip
from abusewatch.policy.settings import PolicySettings
from abusewatch.services.actions.processing import ActionsProcessor, InvalidInput, decode_input
from abusewatch.services.actions.settings import ActionsStreamSettings
from abusewatch.services.common import ServiceContext, create_app, fail_fast, raw_topic

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ActionsMetrics:
    """The actions service's own metrics, on the service's registry."""

    invalid_input: Counter  # labels: topic, reason
    decisions: Counter  # labels: rule, kind, mode (emitted | shadow | cooldown | allowlist | ...)
    policy_reload_failing: Gauge
    locker_up: Gauge
    locker_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ActionsMetrics:
        return cls(
            invalid_input=Counter(
                "abusewatch_actions_invalid_input",
                "Input messages skipped because they are not valid JSON or violate their schema",
                ["topic", "reason"],
                registry=registry,
            ),
            decisions=Counter(
                "abusewatch_policy_decisions",
                "Policy decisions by rule, action kind and mode (emitted, shadow, or why it was skipped)",
                ["rule", "kind", "mode"],
                registry=registry,
            ),
            policy_reload_failing=Gauge(
                "abusewatch_policy_reload_failing",
                "1 while the policy file on disk is invalid and the previous policy is kept",
                registry=registry,
            ),
            locker_up=Gauge(
                "abusewatch_evidence_locker_up", "1 when the last read of the evidence locker succeeded",
                registry=registry,
            ),
            locker_errors=Counter(
                "abusewatch_evidence_locker_errors", "Failed reads of the evidence locker's chain head",
                registry=registry,
            ),
        )

    def count(self, decisions: Iterable[Decision], skipped: Iterable[Skip]) -> None:
        for decision in decisions:
            kind = decision.message.get("kind", "escalate")
            self.decisions.labels(decision.rule_id, kind, "shadow" if decision.shadow else "emitted").inc()
        for skip in skipped:
            self.decisions.labels(skip.rule_id, skip.kind, skip.reason.split(":")[0]).inc()


def build(ctx: ServiceContext) -> faust.App:
    app = create_app(ctx)
    stream_settings = config.load(ActionsStreamSettings)
    policy_settings = config.load(PolicySettings)
    evidence_settings = config.load(EvidenceSettings)
    # Both raise at startup on a bad policy file or DSN: better no service than a wrong one.
    policy = PolicyFile(policy_settings.policy_file, reload_interval_s=policy_settings.reload_interval_s)
    store = open_store(evidence_settings.dsn)
    processor = ActionsProcessor(
        policy=policy,
        store=store,
        flag_min_score=evidence_settings.flag_min_score,
        cooldowns=Cooldowns(stream_settings.cooldown_entries),
    )
    metrics = ctx.metrics
    actions_metrics = ActionsMetrics.create(metrics.registry)
    inputs = {name: raw_topic(app, ctx, name) for name in ("post-scores", "target-alerts", "appeals")}
    outputs = {name: raw_topic(app, ctx, name) for name in ("platform-actions", "escalations")}

    def decode_events(name: str, events: list[Any]) -> list[dict[str, Any]]:
        metrics.messages_in.labels(inputs[name].get_topic_name()).inc(len(events))
        messages = []
        for event in events:
            try:
                messages.append(decode_input(name, event.message.value))
            except InvalidInput as exc:
                actions_metrics.invalid_input.labels(name, exc.reason).inc()
                log.warning(
                    "skipping invalid %s message at partition %s offset %s: %s",
                    name, event.message.partition, event.message.offset, exc,
                    extra={"topic": name, "partition": event.message.partition, "offset": event.message.offset},
                )
        return messages

    async def send(decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.shadow:
                id_field = "action_id" if decision.topic == "platform-actions" else "escalation_id"
                log.info(
                    "shadow decision (not sent): %s %s %s", decision.rule_id, decision.topic, decision.id,
                    extra={"rule_id": decision.rule_id, id_field: decision.id},
                )
                continue
            await outputs[decision.topic].send(key=decision.key.encode(), value=encode(decision.message))
            metrics.messages_out.labels(outputs[decision.topic].get_topic_name()).inc()

    def stream_agent(name: str, plan: Callable[..., Any]) -> None:
        async def act(stream: faust.StreamT) -> None:
            async for events in stream.take_events(stream_settings.take_max, within=stream_settings.take_within_s):
                started = time.perf_counter()
                messages = decode_events(name, events)
                with fail_fast(ctx):  # e.g. the database is down: restart rather than skip the batch
                    planned = plan(messages, now=utcnow())
                    await asyncio.to_thread(processor.record, planned)
                    await send(planned.decisions)
                actions_metrics.count(planned.decisions, planned.skipped)
                metrics.batch_size.observe(len(events))
                metrics.processing_seconds.observe(time.perf_counter() - started)

        act.__name__ = f"act_on_{name.replace('-', '_')}"
        app.agent(inputs[name], name=f"{ctx.app_id}.{act.__name__}")(act)

    stream_agent("post-scores", processor.plan_post_scores)
    stream_agent("target-alerts", processor.plan_alerts)

    @app.agent(inputs["appeals"])
    async def act_on_appeals(stream: faust.StreamT) -> None:
        async for event in stream.events():
            for appeal in decode_events("appeals", [event]):
                with fail_fast(ctx):
                    try:
                        outcome = await asyncio.to_thread(handle_appeal, appeal, store, now=utcnow())
                    except InvalidAppeal as exc:
                        actions_metrics.invalid_input.labels("appeals", "invalid_appeal").inc()
                        log.warning("skipping appeal: %s", exc)
                        continue
                    log.info("%s", outcome.note)
                    if outcome.revocation is not None:
                        await send([outcome.revocation])
                        actions_metrics.count([outcome.revocation], [])

    @app.timer(policy_settings.reload_interval_s)
    async def watch_policy_file() -> None:
        policy.current()  # reloads when the file changed, even while no messages arrive
        actions_metrics.policy_reload_failing.set(1 if policy.last_error else 0)

    @app.timer(evidence_settings.probe_interval_s)
    async def probe_evidence_locker() -> None:
        # A failing write ends the process (fail_fast), so its error is never scraped; this probe
        # shows a broken locker while the service lives, even when no messages arrive.
        try:
            await asyncio.to_thread(store.head)
        except Exception:
            actions_metrics.locker_errors.inc()
            actions_metrics.locker_up.set(0)
            log.error("evidence locker unreachable", exc_info=True)
        else:
            actions_metrics.locker_up.set(1)

    @app.timer(evidence_settings.purge_interval_s)
    async def purge_expired_evidence() -> None:
        cutoff = utcnow() - timedelta(days=evidence_settings.retention_days)
        purged = await asyncio.to_thread(store.purge, cutoff)
        if purged:
            log.info("purged %d evidence records older than %s", purged, cutoff.isoformat())

    return app
