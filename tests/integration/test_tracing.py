"""Tracing end to end: classifier, detector and actions as separate processes on the real broker
with the real model, exporting over OTLP/HTTP to a receiver in the test. One post's spans share a
trace id across the three services; an alert carries the trace of the post that raised it into the
actions service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from abusewatch.devstack.broker import free_port
from abusewatch.offline.demo import build_demo_stream
from abusewatch.devstack.stack import Stack

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration


class OtlpReceiver:
    """Collects the spans that OTLP/HTTP exporters POST to /v1/traces (protobuf), as dicts."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.add(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                    with self.lock:
                        self.spans.append({"service": service, "name": span.name, "trace_id": span.trace_id.hex(),
                                           "span_id": span.span_id.hex(), "attributes": attributes})

    def wait_for(self, predicate, timeout_s: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; got {len(spans)} spans")
            time.sleep(0.2)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _spans_of(spans: list[dict], **attributes: str) -> list[dict]:
    return [s for s in spans if all(s["attributes"].get(k) == v for k, v in attributes.items())]


def test_one_posts_spans_share_a_trace_across_the_three_services(broker, tmp_path, producer, receiver):
    env = stack_env(broker, tmp_path, ABUSEWATCH_TRACING="otlp", ABUSEWATCH_OTLP_ENDPOINT=receiver.endpoint,
                    OTEL_BSP_SCHEDULE_DELAY="200")
    # Fresh event times: the pile-on must fall inside the detector's windows as they run now.
    stream = build_demo_stream(datetime.now(timezone.utc) - timedelta(minutes=6), id_prefix="tr-")
    with Stack(roles=("classifier", "detector", "actions"), env=env, embedded_broker=False) as stack:
        alerts = TopicReader(broker.bootstrap, stack.kafka.topic("target-alerts"))
        try:
            send_posts(producer, stack.kafka.topic("posts"), stream.posts)
            threat = stream.threat_post_id
            services = ("abusewatch-classifier", "abusewatch-detector", "abusewatch-actions")

            def threat_traced(spans: list[dict]) -> bool:
                return {s["service"] for s in _spans_of(spans, **{"abusewatch.post_id": threat})} >= set(services)

            spans = receiver.wait_for(threat_traced, 180, f"spans of {threat} from the three services")
            of_threat = _spans_of(spans, **{"abusewatch.post_id": threat})
            by_service = {s["service"]: s for s in of_threat}
            assert {s["name"] for s in of_threat} >= {"classify post", "detect post", "act on post-scores"}
            assert len({s["trace_id"] for s in of_threat}) == 1, of_threat
            # The threat was escalated: its actions span counts the decision.
            assert by_service["abusewatch-actions"]["attributes"]["abusewatch.decisions"] >= 1
            # Every post has a trace of its own.
            classified = [s for s in spans if s["name"] == "classify post"]
            assert len({s["trace_id"] for s in classified}) == len(classified)

            # The pile-on's alert carries the trace of the post that raised it, into the actions service.
            alerts.wait_for(lambda ms: any(m["target_id"] == stream.pile_on_target for m in ms), 120, "the alert")
            record = next(r for r in alerts.poll() if r.key == stream.pile_on_target.encode())
            [traceparent] = [value for name, value in record.headers if name == "traceparent"]
            trace_id = traceparent.split(b"-")[1].decode()
            alert_id = orjson.loads(record.value)["alert_id"]

            def alert_acted_on(spans: list[dict]) -> bool:
                return bool(_spans_of(spans, **{"abusewatch.alert_id": alert_id}))

            spans = receiver.wait_for(alert_acted_on, 60, f"the actions span of alert {alert_id}")
            [acted] = _spans_of(spans, **{"abusewatch.alert_id": alert_id})
            assert acted["service"] == "abusewatch-actions" and acted["trace_id"] == trace_id
            raising = [s for s in spans if s["trace_id"] == trace_id and s["name"] == "detect post"]
            assert raising and raising[0]["attributes"]["abusewatch.post_id"] in stream.pile_on_post_ids
            assert any(s["trace_id"] == trace_id and s["name"] == "classify post" for s in spans)
        finally:
            alerts.close()
