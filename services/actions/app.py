"""Actions service: post-scores, target-alerts and appeals -> evidence -> platform-actions, escalations.

Each agent reads validate -> decide (abusewatch.policy, pure) -> record (evidence store, in a worker
thread) -> send. Input that fails validation, an appeal that cannot be acted on, and a message the
policy fails on are dead-lettered to `dead-letters` with the reason; the batch goes on.
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
from abusewatch.contract import Rejection, encode, utcnow, validate_message
from abusewatch.evidence.settings import EvidenceSettings, EvidenceSigningSettings
from abusewatch.evidence.signing import configure_signing
from abusewatch.evidence.store import open_store
from abusewatch.policy import Cooldowns, Decision, PolicyFile, Skip
from abusewatch.policy.settings import PolicySettings
from abusewatch.services.actions.processing import ActionsProcessor, Plan
from abusewatch.services.actions.settings import ActionsStreamSettings
from abusewatch.services.common import DeadLetterSink, ServiceContext, create_app, fail_fast, raw_topic

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ActionsMetrics:
    """The actions service's own metrics, on the service's registry."""

    decisions: Counter  # labels: rule, kind, mode (emitted | shadow | cooldown | allowlist | ...)
    policy_reload_failing: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ActionsMetrics:
        return cls(
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
    signing_settings = config.load(EvidenceSigningSettings)
    configure_signing(store, signing_settings)  # warns once here when no key is configured
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
    dead_letters = DeadLetterSink(ctx, raw_topic(app, ctx, "dead-letters").send, schema="dead-letters/v1")

    async def dead_letter(event: Any, rejection: Rejection) -> None:
        message = event.message
        await dead_letters.send(rejection, key=message.key, value=message.value, topic=message.topic,
                                partition=message.partition, offset=message.offset)

    async def validate_events(name: str, events: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """(event, message) for each valid input; the others are dead-lettered."""
        metrics.messages_in.labels(inputs[name].get_topic_name()).inc(len(events))
        valid = []
        for event in events:
            message = validate_message(name, event.message.value)
            if isinstance(message, Rejection):
                await dead_letter(event, message)
            else:
                valid.append((event, message))
        return valid

    async def dead_letter_failed(valid: list[tuple[Any, dict[str, Any]]], planned: Plan) -> None:
        for index, exc in planned.failed:
            event, message = valid[index]
            await dead_letter(event, Rejection("processing_error", f"{type(exc).__name__}: {exc}",
                                               message.get("post_id")))

    async def send(decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.shadow:
                log.info("shadow decision (not sent): %s %s %s", decision.rule_id, decision.topic, decision.id)
                continue
            await outputs[decision.topic].send(key=decision.key.encode(), value=encode(decision.message))
            metrics.messages_out.labels(outputs[decision.topic].get_topic_name()).inc()

    def stream_agent(name: str, plan: Callable[..., Any]) -> None:
        async def act(stream: faust.StreamT) -> None:
            async for events in stream.take_events(stream_settings.take_max, within=stream_settings.take_within_s):
                started = time.perf_counter()
                with fail_fast(ctx):  # e.g. the database is down: restart rather than skip the batch
                    valid = await validate_events(name, events)
                    planned = plan([message for _, message in valid], now=utcnow())
                    await dead_letter_failed(valid, planned)
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
            with fail_fast(ctx):
                for _, appeal in await validate_events("appeals", [event]):
                    try:
                        outcome = await asyncio.to_thread(handle_appeal, appeal, store, now=utcnow())
                    except InvalidAppeal as exc:
                        await dead_letter(event, Rejection("invalid_appeal", str(exc)))
                        continue
                    log.info("%s", outcome.note)
                    if outcome.revocation is not None:
                        await send([outcome.revocation])
                        actions_metrics.count([outcome.revocation], [])

    @app.timer(policy_settings.reload_interval_s)
    async def watch_policy_file() -> None:
        policy.current()  # reloads when the file changed, even while no messages arrive
        actions_metrics.policy_reload_failing.set(1 if policy.last_error else 0)

    @app.timer(evidence_settings.purge_interval_s)
    async def purge_expired_evidence() -> None:
        cutoff = utcnow() - timedelta(days=evidence_settings.retention_days)
        purged = await asyncio.to_thread(store.purge, cutoff)
        if purged:
            log.info("purged %d evidence records older than %s", purged, cutoff.isoformat())

    @app.timer(signing_settings.sign_interval_s)
    async def sign_evidence_checkpoints() -> None:
        await asyncio.to_thread(store.sign_pending)  # the tail a quiet stream leaves unsigned

    return app
