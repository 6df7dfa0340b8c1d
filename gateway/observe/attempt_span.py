"""One client span per upstream attempt, around the innermost attempt (so each retry gets its own)."""

from __future__ import annotations

from gateway.observe.tracing import OtelTracing, Tracing
from gateway.pipeline.attempt import Attempt
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.providers.upstream import UpstreamResponse


class TracedAttempt:
    """``inner`` inside a span named ``chat {upstream model}`` (GenAI client span convention)."""

    def __init__(self, inner: Attempt, tracing: OtelTracing) -> None:
        self._inner = inner
        self._tracing = tracing

    async def __call__(self, call: ModelCall, body: bytes, ctx: RequestContext | None = None) -> UpstreamResponse:
        attrs: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": call.entry.provider,
            "gen_ai.system": call.entry.provider,
            "gen_ai.request.model": call.entry.upstream,
            "gateway.deployment": call.provider.name,
            "gateway.request_id": call.request_id,
            "gen_ai.request.max_tokens": call.max_output_tokens,
        }
        with self._tracing.span(f"chat {call.entry.upstream}", attrs, client=True) as span:
            resp = await self._inner(call, body, ctx)
            span.set_attributes({"http.response.status_code": resp.status})
            return resp


def traced_attempt(inner: Attempt, tracing: Tracing) -> Attempt:
    """``inner`` itself when tracing is off (no wrapper on the hot path), else wrapped in a span.

    With resilience on, ``ResilientAttempt`` makes the span of each attempt itself.
    """
    return TracedAttempt(inner, tracing) if isinstance(tracing, OtelTracing) else inner
