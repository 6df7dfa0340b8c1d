"""Settlement: every model call recorded exactly once, and every admission hold released.

``Settlement`` is an async context manager around everything after admission. Inside it,
the relay settles a call as soon as its outcome is known (``settle``); when the block exits,
by whatever path (success, upstream error, a refusal after admission, the client gone,
cancellation, an exception), every call not yet settled is settled with the matching
status. Settling a call queues its usage row (and the routing decision and conversation
turn that go with it), bumps the metrics and releases its holds. No I/O: records go
through the write queue.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.pipeline.admission import recorded_budget_holds, release_all
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.conversations import turn_append
from gateway.pipeline.door import ClientGone
from gateway.policy.request import CallOutcome
from gateway.store.records import DecisionRecord, KeyTouch, UsageRecord
from pricing import Usage, cost_millicents

if TYPE_CHECKING:
    from gateway.services import Services


def estimate_tokens(chars: int) -> int:
    """A rough token count for text whose usage the provider never reported (~4 chars/token)."""
    return (chars + 3) // 4


def _usage(
    call: ModelCall,
    ctx: RequestContext,
    raw: dict[str, Any] | None,
    final: bool,
    status: str,
    text: str,
    thinking: str,
) -> Usage:
    usage = call.route.provider.usage(raw)
    if usage is None:
        if status == "success" or text:
            # No usage from the provider (e.g. the client left mid-stream): estimate, and say so.
            return Usage(
                input_tokens=estimate_tokens(ctx.parsed.prompt_chars),
                output_tokens=estimate_tokens(len(text) + len(thinking)),
                estimated=True,
            )
        return Usage()
    streamed = estimate_tokens(len(text) + len(thinking))
    if (not final or status != "success") and streamed > usage.output_tokens:
        # The closing usage never came (a broken, cancelled or truncated stream): Anthropic's
        # message_start says 1 output token, so count what was streamed instead, and say so.
        return Usage(
            input_tokens=usage.input_tokens,
            output_tokens=streamed,
            cache_write_tokens=usage.cache_write_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            estimated=True,
        )
    return usage


class Settlement:
    """Settles the model calls of one client request (see the module docstring)."""

    def __init__(self, services: Services, ctx: RequestContext) -> None:
        self.services = services
        self._ctx = ctx
        self.calls: list[ModelCall] = []

    @property
    def request_type(self) -> str:
        return self._ctx.request_type

    def track(self, call: ModelCall) -> ModelCall:
        """Make an admitted ``call`` this settlement's to settle (right after admission, no await between)."""
        self.calls.append(call)
        return call

    async def __aenter__(self) -> Settlement:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, asyncio.CancelledError | GeneratorExit | ClientGone):
            status, http_status = "cancelled", 499
        elif isinstance(exc, GatewayError):
            status, http_status = "error", exc.status
        else:
            # An unexpected exception, or a call left without an outcome (nothing relayed for it).
            status, http_status = "error", 500
        for call in self.calls:
            if not call.settled:
                self.settle(call, status=status, http_status=http_status)

    def settle(
        self,
        call: ModelCall,
        *,
        status: str,
        usage: dict[str, Any] | None = None,
        usage_final: bool = True,
        reply_text: str = "",
        thinking: str = "",
        http_status: int = 200,
    ) -> int:
        """Record ``call`` (once; later calls are ignored) and release its holds. Returns the cost."""
        if call.settled:
            return 0
        call.settled = True
        ctx, services = self._ctx, self.services
        measured, cost = Usage(), 0
        try:
            measured = _usage(call, ctx, usage, usage_final, status, reply_text, thinking)
            price = services.prices.get(call.entry.id)
            cost = cost_millicents(price, measured) if price is not None else 0
            self._record(call, status, measured, cost, reply_text, thinking, http_status)
        finally:
            # Whatever happened above, the holds go back (a failed record must not leak a hold).
            input_tokens = measured.input_tokens + measured.cache_write_tokens + measured.cache_read_tokens
            release_all(call.holds, CallOutcome(status, cost, input_tokens, measured.output_tokens))
        return cost

    def _record(
        self,
        call: ModelCall,
        status: str,
        usage: Usage,
        cost: int,
        reply_text: str,
        thinking: str,
        http_status: int,
    ) -> None:
        ctx, services = self._ctx, self.services
        now = time.perf_counter()
        latency_ms = int((now - ctx.started) * 1000)
        ttft_ms = int((call.first_byte_at - ctx.started) * 1000) if call.first_byte_at is not None else None
        principal = ctx.principal
        q = services.queue
        q.put(
            UsageRecord(
                request_id=call.request_id,
                organization_id=principal.organization_id,
                user_id=principal.user_id,
                model=call.entry.id,
                provider=call.entry.provider,
                tier=call.model_tier,
                created_at=ctx.created_at,
                conversation_id=ctx.conversation_id,
                request_type=ctx.request_type,
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                cache_creation_tokens=usage.cache_write_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cost_millicents=cost,
                status=status,
                usage_estimated=usage.estimated,
                auto_routed=ctx.decision is not None,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                reserved_millicents=call.reserved_millicents,
                holds=recorded_budget_holds(call.holds),
                api_key_id=principal.key_id,
            )
        )
        primary = call.request_id == ctx.request_id
        d = ctx.decision
        if d is not None and primary:
            q.put(
                DecisionRecord(
                    request_id=call.request_id,
                    created_at=ctx.created_at,
                    user_id=principal.user_id,
                    organization_id=principal.organization_id,
                    conversation_id=ctx.conversation_id,
                    provider=call.entry.provider,
                    conversation_turn=ctx.conversation_turn,
                    selected_model=call.entry.id,
                    tier=d.complexity,
                    score=d.score,
                    confidence=d.confidence,
                    reasoning=d.reasoning
                    + (" (fell back to the nearest tier this caller may use)" if ctx.auto_fell_back else ""),
                    query_length=d.query_length,
                    request_succeeded=status == "success",
                    response_tokens=usage.output_tokens,
                    estimated_cost_millicents=cost,
                    config_version=d.config_version,
                )
            )
            services.metrics.child(services.metrics.routing, d.complexity).inc()
        if status == "success" and primary:
            append = turn_append(
                ctx,
                call,
                reply_text=reply_text,
                thinking=thinking or None,
                usage={
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cache_write_tokens": usage.cache_write_tokens,
                    "cache_read_tokens": usage.cache_read_tokens,
                },
                cost_millicents=cost,
            )
            if append is not None:
                q.put(append)
        if principal.key_id is not None:
            q.put(KeyTouch(key_id=principal.key_id, used_at=datetime.now(UTC).isoformat()))
        m = services.metrics
        model = call.entry.id
        endpoint = ctx.codec.endpoint
        m.child(m.requests, endpoint, model, call.entry.provider, str(http_status)).inc()
        m.child(m.latency, endpoint).observe(now - ctx.started)
        m.child(m.overhead, endpoint).observe(max(0.0, (now - ctx.started) - call.upstream_wait))
        if call.first_byte_at is not None and ctx.stream:
            m.child(m.ttft, endpoint).observe(call.first_byte_at - ctx.started)
        for kind, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("cache_read", usage.cache_read_tokens),
        ):
            if count:
                m.child(m.tokens, model, kind).inc(count)
        if cost:
            m.child(m.cost, model).inc(cost)
