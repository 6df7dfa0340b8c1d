"""Spans for real requests through the running gateway: an in-memory exporter, and OTLP to a loopback stub."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from gateway.observe.attempt_span import TracedAttempt
from gateway.observe.tracing import NoTracing, build_tracing
from gateway.pipeline.attempt import ProviderAttempt
from gateway.resilience.seam import ResilientAttempt
from gateway.settings import Settings
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced_gateway(
    migrated_db_url: str,
    mock_provider: MockUpstream,
    exporter: InMemorySpanExporter,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    settings = gateway_settings(migrated_db_url, mock_provider, tmp_path_factory.mktemp("traced"))
    server = GatewayServer(create_app(settings, span_exporter=exporter)).start()
    yield server
    server.stop()


def _request_spans(exporter: InMemorySpanExporter, want_children: int) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The one finished request span and its children (spans end after the response is sent, so poll)."""
    deadline = time.monotonic() + 5
    while True:
        spans = list(exporter.get_finished_spans())
        roots = [s for s in spans if s.name.startswith("gateway ") and s.parent is None]
        if len(roots) == 1:
            root = roots[0]
            assert root.context is not None
            kids = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
            if len(kids) >= want_children or time.monotonic() > deadline:
                return root, kids
        assert time.monotonic() < deadline, [s.name for s in spans]
        time.sleep(0.02)


def test_one_request_span_with_admission_attempt_and_settlement(
    traced_gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, exporter: Any
) -> None:
    exporter.clear()
    client = openai.OpenAI(base_url=traced_gateway.url + "/v1", api_key=org.api_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    request_id = raw.headers["x-request-id"]
    root, kids = _request_spans(exporter, 3)
    attrs = dict(root.attributes or {})
    assert root.name == "gateway chat" and attrs["gateway.request_id"] == request_id
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gateway.tier"] == "basic"
    names = sorted(k.name for k in kids)
    assert names == ["chat gpt-4o-mini", "gateway admission", "gateway settlement"]
    attempt = next(k for k in kids if k.name == "chat gpt-4o-mini")
    assert attempt.kind.name == "CLIENT" and dict(attempt.attributes or {})["http.response.status_code"] == 200
    settle = dict(next(k for k in kids if k.name == "gateway settlement").attributes or {})
    traced_gateway.flush()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT completion_tokens, estimated_cost_millicents FROM llm_usage WHERE request_id = %s", (request_id,)
        ).fetchone()
    assert row is not None
    assert settle["gen_ai.usage.output_tokens"] == row[0] > 0
    assert settle["gateway.cost_millicents"] == row[1] > 0
    assert settle["gateway.cost_usd"] == pytest.approx(row[1] / 100_000)
    assert settle["gateway.tier"] == "basic" and settle["gateway.status"] == "success"
    # Children nest in time inside the request span.
    assert all(root.start_time <= k.start_time and k.end_time <= root.end_time for k in kids)  # type: ignore[operator]


def test_streamed_anthropic_request_is_traced_too(
    traced_gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, exporter: Any
) -> None:
    exporter.clear()
    client = anthropic.Anthropic(base_url=traced_gateway.url, api_key=org.api_key, max_retries=0)
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text
    root, kids = _request_spans(exporter, 3)
    assert root.name == "gateway messages"
    settle = dict(next(k for k in kids if k.name == "gateway settlement").attributes or {})
    assert settle["gen_ai.usage.output_tokens"] == upstream.output_tokens


def test_refused_request_marks_the_span_and_has_no_children(
    traced_gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, exporter: Any
) -> None:
    exporter.clear()
    client = openai.OpenAI(base_url=traced_gateway.url + "/v1", api_key=org.api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    root, kids = _request_spans(exporter, 0)
    attrs = dict(root.attributes or {})
    assert attrs["http.response.status_code"] == 404 and attrs["error.type"] == "model_not_found"
    assert kids == []


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def test_otlp_export_to_a_collector_on_loopback(
    migrated_db_url: str, upstream: MockUpstream, org: BootstrapResult, tmp_path: Path
) -> None:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
        settings = gateway_settings(migrated_db_url, upstream, tmp_path, otel_endpoint=endpoint)
        server = GatewayServer(create_app(settings)).start()
        try:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=org.api_key, max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        finally:
            server.stop()  # shutdown flushes the batch exporter
    finally:
        collector.shutdown()
    assert received, "the collector got nothing"
    names: set[str] = set()
    for path, ctype, body in received:
        assert path == "/v1/traces" and ctype == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        for rs in export.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"]
            assert service == "llm-gateway"
            names |= {s.name for ss in rs.scope_spans for s in ss.spans}
    assert {"gateway chat", "gateway admission", "chat gpt-4o-mini", "gateway settlement"} <= names


def test_tracing_is_off_by_default(gateway: GatewayServer) -> None:
    assert Settings.from_env({}).otel_endpoint is None
    assert isinstance(build_tracing(Settings.from_env({})), NoTracing)
    # The shared test gateway runs as production does by default: no tracer, no attempt wrapper
    # (the attempt is the resilient one itself, which makes no spans when tracing is off).
    assert isinstance(gateway.services.tracing, NoTracing)
    assert type(gateway.services.attempt) in (ProviderAttempt, ResilientAttempt)
    assert not isinstance(gateway.services.attempt, TracedAttempt)
