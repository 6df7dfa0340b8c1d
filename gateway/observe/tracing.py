"""OpenTelemetry spans for the request pipeline, or nothing at all when tracing is off.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` unset the pipeline gets :class:`NoTracing`, whose
spans are one shared do-nothing object: no OpenTelemetry import, no allocation, no clock
read per request. With it set, each client request is one server span with children for
admission, every upstream attempt and settlement, named and annotated after the
OpenTelemetry GenAI semantic conventions (``gen_ai.*``) plus a few ``gateway.*`` ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from gateway.settings import Settings

Attrs = Mapping[str, str | int | float | bool]


class SpanLike(Protocol):
    def set_attributes(self, attributes: Attrs) -> None: ...


class _NoSpan:
    """The span of disabled tracing: accepts everything, keeps nothing."""

    __slots__ = ()

    def set_attributes(self, attributes: Attrs) -> None:
        return None

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


NO_SPAN = _NoSpan()  # holds no state, so one instance serves every request


class NoTracing:
    """Tracing off: every call returns at once."""

    enabled = False

    def span(self, name: str, attributes: Attrs | None = None, *, client: bool = False) -> AbstractContextManager[Any]:
        return NO_SPAN

    def annotate(self, attributes: Attrs) -> None:
        return None

    def shutdown(self) -> None:
        return None


class OtelTracing:
    """Tracing on: spans from an SDK tracer provider that exports to OTLP (or a test exporter)."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import trace

        self._provider = provider
        self._trace = trace
        self._tracer = provider.get_tracer("llm-gateway")

    @contextmanager
    def _span(self, name: str, attributes: Attrs | None, client: bool) -> Iterator[Any]:
        kind = self._trace.SpanKind.CLIENT if client else self._trace.SpanKind.INTERNAL
        with self._tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
            try:
                yield span
            except BaseException as exc:
                # Mark the span failed with the gateway's error code, then let the error go on.
                span.set_attribute("error.type", getattr(exc, "code", None) or type(exc).__name__)
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(exc)[:200]))
                raise

    def span(self, name: str, attributes: Attrs | None = None, *, client: bool = False) -> AbstractContextManager[Any]:
        return self._span(name, attributes, client)

    def annotate(self, attributes: Attrs) -> None:
        """Set attributes on the current span (the request's, between its children)."""
        self._trace.get_current_span().set_attributes(attributes)

    def shutdown(self) -> None:
        """Flush and stop the exporter (at application shutdown)."""
        self._provider.shutdown()


Tracing = NoTracing | OtelTracing


def build_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """Tracing for these settings: off unless an OTLP endpoint is set or a test passes an exporter."""
    if exporter is None and not settings.otel_endpoint:
        return NoTracing()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    if exporter is not None:
        # A test's exporter sees each span as it ends.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert settings.otel_endpoint is not None
        endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
        # Batched off the event loop: exporting never waits on the request path.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return OtelTracing(provider)
