"""The services' dead-letter sink and the record-size agreement checked at startup."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from kafka.errors import MessageSizeTooLargeError

from abusewatch.common import config

from abusewatch.ingest import contract
from abusewatch.ingest.contract import Rejection
from abusewatch.services.common import DeadLetterSink, ServiceContext, ServiceMetrics, check_message_limits
from abusewatch.common.settings import DeadLetterSettings, IngestSettings, KafkaSettings, ServiceSettings


def context(keep_bytes: int = 1024) -> ServiceContext:
    return ServiceContext(role="classifier", kafka=KafkaSettings(), service=ServiceSettings(),
                          metrics=ServiceMetrics.create("classifier"), dead_letters=DeadLetterSettings(keep_bytes))


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_dead_letter_is_sent_bounded_and_counted_by_source_topic():
    ctx = context()
    sent = []

    async def send(*, key, value):
        sent.append((key, value))

    sink = DeadLetterSink(ctx, send, schema="posts-dlq/v1")
    original = b"x" * 5_000
    asyncio.run(sink.send(Rejection("message_too_large", "too big"), key=b"k" * 5_000, value=original,
                          topic="posts", partition=1, offset=7))
    (key, value), = sent
    assert key is None  # a key of kilobytes is not carried over (the original has it)
    letter = orjson.loads(value)
    contract.validate("posts-dlq", letter)
    assert letter["original_truncated"] and letter["original_size"] == 5_000
    assert sample(ctx.metrics, "abusewatch_messages_dead_lettered_total", topic="posts", reason="message_too_large") == 1


def test_a_dead_letter_that_cannot_be_sent_is_logged_counted_and_skipped(caplog):
    ctx = context()

    async def refusing(*, key, value):
        raise MessageSizeTooLargeError("the broker refused it")

    sink = DeadLetterSink(ctx, refusing, schema="dead-letters/v1")
    asyncio.run(sink.send(Rejection("invalid_json", "not JSON"), key=None, value=b"{", topic="appeals",
                          partition=0, offset=3))  # does not raise: the service goes on past the record
    assert sample(ctx.metrics, "abusewatch_dead_letters_failed_total", topic="appeals", reason="invalid_json") == 1
    assert sample(ctx.metrics, "abusewatch_messages_dead_lettered_total", topic="appeals", reason="invalid_json") == 0
    assert "could not dead-letter" in caplog.text


def test_a_dead_letter_the_broker_does_not_acknowledge_counts_as_failed():
    # A Faust topic's send returns once the record is queued; the broker's answer comes later, in
    # the future it returns. A refusal there is a failed dead letter, not a sent one.
    ctx = context()

    async def scenario() -> None:
        async def queued(*, key, value):
            delivery = asyncio.get_running_loop().create_future()
            delivery.set_exception(MessageSizeTooLargeError("the broker refused it"))
            return delivery

        await DeadLetterSink(ctx, queued, schema="dead-letters/v1").send(
            Rejection("invalid_json", "not JSON"), key=None, value=b"{", topic="appeals", partition=0, offset=4)

    asyncio.run(scenario())
    assert sample(ctx.metrics, "abusewatch_dead_letters_failed_total", topic="appeals", reason="invalid_json") == 1
    assert sample(ctx.metrics, "abusewatch_messages_dead_lettered_total", topic="appeals", reason="invalid_json") == 0


def test_settings_that_would_make_every_post_poison_refuse_to_start():
    for env in ("ABUSEWATCH_MAX_TARGETS_PER_POST", "ABUSEWATCH_MAX_TEXT_CHARS", "ABUSEWATCH_MAX_MESSAGE_BYTES"):
        with pytest.raises(config.ConfigError, match=env):
            config.load(IngestSettings, env={env: "0"})
    for value in ("-1", "nan"):  # NaN: every post would be "too far ahead"
        with pytest.raises(config.ConfigError, match="ABUSEWATCH_MAX_EVENT_TIME_AHEAD_S"):
            config.load(IngestSettings, env={"ABUSEWATCH_MAX_EVENT_TIME_AHEAD_S": value})


def test_a_packed_record_larger_than_the_record_limit_refuses_to_start():
    from abusewatch.services.detector.app import check_packed_record_limit

    check_packed_record_limit(KafkaSettings().max_message_bytes, 512 * 1024)  # the defaults agree
    with pytest.raises(config.ConfigError, match="ABUSEWATCH_DETECTOR_PACKED_RECORD_BYTES"):
        check_packed_record_limit(1024 * 1024, 1024 * 1024)


def test_limits_that_do_not_fit_the_record_size_refuse_to_start():
    check_message_limits(KafkaSettings(), IngestSettings(), DeadLetterSettings())  # the defaults agree
    with pytest.raises(config.ConfigError, match="ABUSEWATCH_DEAD_LETTER_KEEP_BYTES"):
        check_message_limits(KafkaSettings(max_message_bytes=65_536), IngestSettings(max_message_bytes=1_000),
                             DeadLetterSettings(keep_bytes=65_536))
    with pytest.raises(config.ConfigError, match="ABUSEWATCH_MAX_MESSAGE_BYTES"):
        check_message_limits(KafkaSettings(max_message_bytes=100_000), IngestSettings(max_message_bytes=99_000),
                             DeadLetterSettings(keep_bytes=1_000))


def test_a_dead_letter_the_broker_never_acknowledges_counts_as_failed_after_the_timeout():
    ctx = ServiceContext(role="actions", kafka=KafkaSettings(), service=ServiceSettings(),
                         metrics=ServiceMetrics.create("actions"),
                         dead_letters=DeadLetterSettings(keep_bytes=1024, ack_timeout_s=0.05))

    async def scenario() -> None:
        async def queued_forever(*, key, value):
            return asyncio.get_running_loop().create_future()  # never completed

        await DeadLetterSink(ctx, queued_forever, schema="dead-letters/v1").send(
            Rejection("invalid_json", "not JSON"), key=None, value=b"{", topic="appeals", partition=0, offset=5)

    asyncio.run(scenario())
    assert sample(ctx.metrics, "abusewatch_dead_letters_failed_total", topic="appeals", reason="invalid_json") == 1
