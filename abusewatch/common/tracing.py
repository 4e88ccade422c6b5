"""OpenTelemetry tracing of each post across the stream services, off by default.

The trace context travels in Kafka record headers as a W3C `traceparent` (what any Kafka
instrumentation reads): the classifier starts a span per post and puts its traceparent on the
post-scores record; the detector's packed records carry the traceparent of each copy on its line
(abusewatch.detection.rekey); an alert carries the traceparent of the post that raised it; the
actions service continues the trace of each input for its decisions. Headers are plain
`[(str, bytes)]` lists, as Faust and aiokafka take and give them, so nothing here talks to Kafka.

Disabled (the default), `Tracing.enabled` is false and the services skip every tracing step, so
the hot path pays one attribute check per batch or post; the OpenTelemetry SDK is not even imported.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from abusewatch.common.config import ConfigError, setting, settings_class

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
MODES = ("off", "otlp", "console")
Headers = Sequence[tuple[str, bytes]]

_PROPAGATOR = TraceContextTextMapPropagator()


@settings_class
class TracingSettings:
    """OpenTelemetry tracing (docs/operations.md, "Tracing"). The SDK's own OTEL_* variables apply
    too: OTEL_TRACES_SAMPLER(_ARG) for sampling, OTEL_BSP_* for export batching,
    OTEL_EXPORTER_OTLP_(TRACES_)HEADERS / _TIMEOUT / _CERTIFICATE for the OTLP exporter."""

    mode: str = setting(
        "ABUSEWATCH_TRACING", "off",
        "off (no spans, no exporter), otlp (export over OTLP/HTTP protobuf), or console (spans as JSON "
        "lines on stdout, for debugging).",
    )
    otlp_endpoint: str = setting(
        "ABUSEWATCH_OTLP_ENDPOINT", "",
        "Full URL of the OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. Empty: the "
        "SDK's OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, else "
        "http://localhost:4318/v1/traces.",
    )


def inject(span_context: trace.SpanContext | None = None) -> list[tuple[str, bytes]]:
    """Headers carrying `span_context` (the current span's when None); empty if it is not valid."""
    carrier: dict[str, str] = {}
    ctx = None if span_context is None else trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    _PROPAGATOR.inject(carrier, context=ctx)
    return [(name, value.encode()) for name, value in carrier.items()]


def traceparent(headers: Headers | Mapping[str, bytes] | None) -> bytes | None:
    """The traceparent header's value, if there is one."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == TRACEPARENT:
            return value
    return None


def extract(value: bytes | None) -> otel_context.Context | None:
    """The remote parent context a traceparent names, or None for a missing or malformed one (bad
    input from any producer only loses its trace, never the message)."""
    if not value:
        return None
    try:
        ctx = _PROPAGATOR.extract({TRACEPARENT: value.decode("ascii")})
    except (UnicodeDecodeError, ValueError):
        return None
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


class Tracing:
    """The tracer of one service process. `Tracing.disabled()` is the default: no provider, and
    `enabled` false so callers skip tracing altogether."""

    def __init__(self, tracer: trace.Tracer, provider: Any = None) -> None:
        self.tracer = tracer
        self._provider = provider
        self.enabled = provider is not None

    @classmethod
    def disabled(cls) -> Tracing:
        return cls(trace.NoOpTracer())

    @classmethod
    def from_settings(cls, role: str, settings: TracingSettings) -> Tracing:
        if settings.mode not in MODES:
            raise ConfigError(f"ABUSEWATCH_TRACING must be one of {', '.join(MODES)}, not {settings.mode!r}")
        if settings.mode == "off":
            return cls.disabled()
        # Imported only when tracing is on: the SDK and exporter are not needed otherwise.
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        if settings.mode == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint or None)
        else:
            exporter = ConsoleSpanExporter(out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
        # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; service.name stays ours.
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"abusewatch-{role}"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        log.info("tracing on: %s export as abusewatch-%s", settings.mode, role)
        return cls(provider.get_tracer("abusewatch"), provider)

    def start_span(self, name: str, parent: bytes | None = None, *, start_time: int | None = None,
                   attributes: Mapping[str, Any] | None = None) -> trace.Span:
        """A span continuing the trace that the traceparent `parent` names (a new trace without one).
        The caller ends it."""
        return self.tracer.start_span(name, context=extract(parent), start_time=start_time,
                                      attributes=attributes, kind=trace.SpanKind.CONSUMER)

    @contextlib.contextmanager
    def span(self, name: str, parent: bytes | None = None, **attributes: Any) -> Iterator[trace.Span]:
        """Around one post's step: the span is current (log lines inside carry its trace id)."""
        span = self.start_span(name, parent, attributes=attributes)
        with trace.use_span(span, end_on_exit=True):
            yield span

    def shutdown(self) -> None:
        """Export what is still buffered (bounded by the exporter's timeout)."""
        if self._provider is not None:
            self._provider.shutdown()


def headers_of(span: trace.Span) -> list[tuple[str, bytes]]:
    """The headers that continue `span`'s trace in the next service."""
    return inject(span.get_span_context())


class TraceIdLogFilter(logging.Filter):
    """Adds trace_id and span_id (hex, as tracing backends show them) to a log record made while a
    span is current; the JSON formatter writes them as fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = trace.format_trace_id(span_context.trace_id)
            record.span_id = trace.format_span_id(span_context.span_id)
        return True
