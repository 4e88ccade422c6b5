"""Actions service: post-scores, target-alerts and appeals -> evidence -> platform-actions, escalations.

Each agent reads validate -> decide (abusewatch.policy, pure) -> record (evidence store, in a worker
thread) -> send. Input that fails validation, an appeal that cannot be acted on, and a message the
policy fails on are dead-lettered to `dead-letters` with the reason; the batch goes on. An
unreachable evidence locker is waited out (abusewatch.evidence.retry): the agent retries the batch's
record step with backoff and takes no more input meanwhile, readiness is false, and nothing is sent
before its evidence is recorded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge

from abusewatch.common import config
from abusewatch.actions.appeals import InvalidAppeal, handle_appeal
from abusewatch.ingest.contract import Rejection, encode, utcnow, validate_message
from abusewatch.common.backoff import Backoff
from abusewatch.evidence.retry import LockerGuard, LockerMetrics
from abusewatch.evidence.settings import EvidenceSettings, EvidenceSigningSettings
from abusewatch.evidence.store import configure_signing, open_store
from abusewatch.policy import Cooldowns, Decision, PolicyFile, Skip
from abusewatch.policy.settings import PolicySettings
from abusewatch.actions.processing import ActionsProcessor, Plan
from abusewatch.services.actions.settings import ActionsStreamSettings
from abusewatch.services.actions.webhooks import deliver_webhooks
from abusewatch.integrations.settings import WebhookSettings
from abusewatch.integrations.webhooks import load_endpoints
from abusewatch.services.common import DeadLetterSink, ServiceContext, create_app, fail_fast, raw_topic
from abusewatch.common.tracing import headers_of, traceparent

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


@contextlib.contextmanager
def read_again_if_stopped(ctx: ServiceContext, events: Sequence[faust.EventT]) -> Iterator[None]:
    """Around a batch's record and send steps: if the worker stops before they finish (the agent
    is cancelled, e.g. SIGTERM while the locker is unreachable), the batch must be read again.

    Faust acks a take_events batch as its stream stops, before the agent is cancelled, and its
    final commit would then skip the batch. So the process leaves at once, without that commit
    (as fail_fast does): the next worker re-reads from the last commit, outputs deduplicated by id.
    """
    try:
        yield
    except asyncio.CancelledError:
        log.warning(
            "%s: stopping with a batch of %d messages not yet recorded and sent; exiting without committing"
            " it so that it is read again", ctx.role, len(events),
        )
        logging.shutdown()
        os._exit(0)


def build(ctx: ServiceContext) -> faust.App:
    app = create_app(ctx)
    # On shutdown or rebalance Faust would otherwise wait for the batch in hand, which during a
    # locker outage is retrying for as long as the outage lasts. Not waiting is safe here: that
    # batch is not committed (read_again_if_stopped), so it is read again, and every output is
    # deduplicated by id.
    app.conf.stream_wait_empty = False
    stream_settings = config.load(ActionsStreamSettings)
    policy_settings = config.load(PolicySettings)
    evidence_settings = config.load(EvidenceSettings)
    # Both raise at startup on a bad policy file or DSN: better no service than a wrong one. An
    # unreachable locker is not an error of ours: the store connects when it first can.
    policy = PolicyFile(policy_settings.policy_file, reload_interval_s=policy_settings.reload_interval_s)
    store = open_store(evidence_settings.dsn, timeout_s=evidence_settings.timeout_s, lazy=True)
    signing_settings = config.load(EvidenceSigningSettings)
    configure_signing(store, signing_settings)  # warns once here when no key is configured
    processor = ActionsProcessor(
        policy=policy,
        store=store,
        flag_min_score=evidence_settings.flag_min_score,
        cooldowns=Cooldowns(stream_settings.cooldown_entries),
    )
    metrics = ctx.metrics
    tracing = ctx.tracing
    actions_metrics = ActionsMetrics.create(metrics.registry)
    guard = LockerGuard(
        Backoff(stream_settings.locker_retry_initial_s, stream_settings.locker_retry_max_s),
        LockerMetrics.create(metrics.registry),
    )
    cooldowns_loaded = asyncio.Event()
    ctx.readiness_checks.append(lambda: cooldowns_loaded.is_set() and guard.reachable)
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

    async def send(decisions: list[Decision], headers: list[list[tuple[str, bytes]]] | None = None) -> None:
        """Send the decisions that are not shadowed; `headers`, when given, is parallel to them."""
        for index, decision in enumerate(decisions):
            if decision.shadow:
                id_field = "action_id" if decision.topic == "platform-actions" else "escalation_id"
                log.info(
                    "shadow decision (not sent): %s %s %s", decision.rule_id, decision.topic, decision.id,
                    extra={"rule_id": decision.rule_id, id_field: decision.id},
                )
                continue
            await outputs[decision.topic].send(key=decision.key.encode(), value=encode(decision.message),
                                               headers=None if headers is None else headers[index])
            metrics.messages_out.labels(outputs[decision.topic].get_topic_name()).inc()

    @app.task
    async def load_cooldowns() -> None:
        # Before any input is decided: a restarted worker must not renew limits early.
        limit = stream_settings.cooldown_entries
        loaded = await guard.run(functools.partial(processor.load_cooldowns, limit), "loading cooldowns")
        log.info("loaded %d cooldowns from the evidence locker", loaded)
        cooldowns_loaded.set()

    def input_spans(name: str, valid: list[tuple[Any, dict[str, Any]]], planned: Plan, started_ns: int) -> list:
        """A span per valid input, from taking its batch on, continuing the input's trace (a new
        trace for an input without one); the caller ends them once the decisions are sent."""
        id_field = "post_id" if name == "post-scores" else "alert_id"
        decided = collections.Counter(planned.origins)
        return [
            tracing.start_span(f"act on {name}", traceparent(event.message.headers), start_time=started_ns,
                               attributes={f"abusewatch.{id_field}": message[id_field],
                                           "abusewatch.decisions": decided[index]})
            for index, (event, message) in enumerate(valid)
        ]

    def stream_agent(name: str, plan: Callable[..., Any]) -> None:
        async def act(stream: faust.StreamT) -> None:
            await cooldowns_loaded.wait()
            async for events in stream.take_events(stream_settings.take_max, within=stream_settings.take_within_s):
                started = time.perf_counter()
                started_ns = time.time_ns()
                with fail_fast(ctx), read_again_if_stopped(ctx, events):  # an error or a stop: never skip the batch
                    valid = await validate_events(name, events)
                    planned = plan([message for _, message in valid], now=utcnow())
                    await dead_letter_failed(valid, planned)
                    # Retried until recorded while the locker is unreachable: Kafka holds the rest.
                    await guard.run(functools.partial(processor.record, planned), f"recording a {name} batch")
                    if tracing.enabled:
                        spans = input_spans(name, valid, planned, started_ns)
                        await send(planned.decisions, [headers_of(spans[origin]) for origin in planned.origins])
                        for span in spans:
                            span.end()
                    else:
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
            with fail_fast(ctx), read_again_if_stopped(ctx, [event]):
                for _, appeal in await validate_events("appeals", [event]):
                    try:
                        outcome = await guard.run(
                            functools.partial(handle_appeal, appeal, store, now=utcnow()), "recording an appeal"
                        )
                    except InvalidAppeal as exc:
                        await dead_letter(event, Rejection("invalid_appeal", str(exc)))
                        continue
                    log.info("%s", outcome.note)
                    if outcome.revocations:
                        await send(list(outcome.revocations))
                        actions_metrics.count(outcome.revocations, [])

    @app.timer(policy_settings.reload_interval_s)
    async def watch_policy_file() -> None:
        policy.current()  # reloads when the file changed, even while no messages arrive
        actions_metrics.policy_reload_failing.set(1 if policy.last_error else 0)

    @app.timer(evidence_settings.purge_interval_s)
    async def purge_expired_evidence() -> None:
        cutoff = utcnow() - timedelta(days=evidence_settings.retention_days)
        purged = await guard.run(functools.partial(store.purge, cutoff, evidence_settings.cooldown_purge_margin_s),
                                 "purging expired evidence")
        if purged:
            log.info("purged %d evidence records older than %s", purged, cutoff.isoformat())

    @app.timer(signing_settings.sign_interval_s)
    async def sign_evidence_checkpoints() -> None:
        # The tail a quiet stream leaves unsigned; waits out an unreachable locker like every write.
        await guard.run(store.sign_pending, "signing evidence checkpoints")

    webhook_settings = config.load(WebhookSettings)
    if webhook_settings.file:
        endpoints = load_endpoints(webhook_settings.file)  # raises at startup on a bad file

        @app.task
        async def deliver_platform_webhooks() -> None:
            await deliver_webhooks(ctx, webhook_settings, endpoints, dead_letters)

    @app.timer(stream_settings.locker_probe_interval_s)
    async def probe_evidence_locker() -> None:
        await guard.probe(store.ping)  # readiness follows the locker even while no input arrives

    return app
