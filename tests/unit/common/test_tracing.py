"""Tracing: traceparent headers in and out, spans continuing a trace, the disabled default, the
trace id in JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from abusewatch.cli import main as cli

from abusewatch.common import config
from abusewatch.common.tracing import (
    TRACEPARENT,
    TraceIdLogFilter,
    Tracing,
    TracingSettings,
    extract,
    headers_of,
    inject,
    traceparent,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def recorded() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider.get_tracer("test"), provider), exporter


def test_tracing_is_off_by_default_and_costs_no_provider():
    tracing = Tracing.from_settings("classifier", config.load(TracingSettings, env={}))
    assert not tracing.enabled
    with tracing.span("detect post", PARENT) as span:  # usable, records nothing
        assert not span.is_recording()
        assert headers_of(span) == [(TRACEPARENT, PARENT)]  # the no-op tracer hands the parent on as it is
    with tracing.span("classify post") as span:
        assert headers_of(span) == []
    tracing.shutdown()


def test_an_unknown_mode_is_refused():
    with pytest.raises(config.ConfigError, match="ABUSEWATCH_TRACING must be one of off, otlp, console"):
        Tracing.from_settings("detector", config.load(TracingSettings, env={"ABUSEWATCH_TRACING": "jaeger"}))


@pytest.mark.parametrize("mode", ["otlp", "console"])
def test_enabled_modes_build_a_provider_named_after_the_role(mode):
    env = {"ABUSEWATCH_TRACING": mode, "ABUSEWATCH_OTLP_ENDPOINT": "http://127.0.0.1:9/v1/traces"}
    tracing = Tracing.from_settings("actions", config.load(TracingSettings, env=env))
    try:
        assert tracing.enabled
        assert tracing._provider.resource.attributes["service.name"] == "abusewatch-actions"
    finally:
        tracing._provider.shutdown()  # nothing recorded: nothing to send


def test_a_span_continues_the_trace_its_traceparent_names_and_hands_it_on(recorded):
    tracing, exporter = recorded
    with tracing.span("detect post", PARENT, **{"abusewatch.post_id": "p-1"}) as span:
        headers = headers_of(span)
    [finished] = exporter.get_finished_spans()
    assert finished.context.trace_id == TRACE_ID
    assert finished.parent.span_id == 0x00F067AA0BA902B7 and finished.parent.is_remote
    assert finished.attributes["abusewatch.post_id"] == "p-1"
    [(name, value)] = headers
    assert name == TRACEPARENT
    assert value == f"00-{TRACE_ID:032x}-{finished.context.span_id:016x}-01".encode()


def test_a_post_without_a_traceparent_starts_a_new_trace(recorded):
    tracing, exporter = recorded
    span = tracing.start_span("classify post", None, start_time=1_000)
    span.end()
    [finished] = exporter.get_finished_spans()
    assert finished.parent is None and finished.start_time == 1_000


@pytest.mark.parametrize("bad", [b"", b"garbage", b"00-zz-yy-01", b"\xff\xfe", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01"])
def test_a_malformed_traceparent_only_loses_the_trace(recorded, bad):
    tracing, exporter = recorded
    assert extract(bad) is None
    with tracing.span("detect post", bad):
        pass
    [finished] = exporter.get_finished_spans()
    assert finished.parent is None  # a new trace; the message itself goes on


def test_traceparent_is_read_from_header_lists_and_mappings():
    assert traceparent([("other", b"x"), (TRACEPARENT, PARENT)]) == PARENT
    assert traceparent({TRACEPARENT: PARENT}) == PARENT
    assert traceparent(None) is None and traceparent([]) is None and traceparent([("other", b"x")]) is None


def test_inject_without_a_current_span_adds_no_header():
    assert inject() == []


def test_json_logs_carry_the_trace_and_span_id_of_the_current_span(recorded, capsys):
    tracing, _ = recorded
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        cli.configure_logging("info", "json", "detector")
        with tracing.span("detect post", PARENT) as span:
            logging.getLogger("abusewatch.test").info("inside", extra={"post_id": "p-1"})
        logging.getLogger("abusewatch.test").info("outside")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["trace_id"] == f"{TRACE_ID:032x}"
    assert inside["span_id"] == trace.format_span_id(span.get_span_context().span_id)
    assert inside["post_id"] == "p-1"
    assert "trace_id" not in outside and "span_id" not in outside


def test_the_log_filter_never_drops_a_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert TraceIdLogFilter().filter(record) and not hasattr(record, "trace_id")
