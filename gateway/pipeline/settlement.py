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
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.pipeline.admission import recorded_budget_holds, release_all
from gateway.pipeline.codecs import CODECS
from gateway.pipeline.context import CallOutcomeRecord, ModelCall, RequestContext
from gateway.pipeline.conversations import turn_append
from gateway.pipeline.door import ClientGone
from gateway.policy.request import CallOutcome
from gateway.store.records import DecisionRecord, KeyTouch, UsageRecord
from pricing import Usage, cost_millicents
from pricing.money import usd_float

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
    if final and status == "success":
        return usage
    streamed = estimate_tokens(len(text) + len(thinking))
    if streamed > usage.output_tokens:
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


def billable_attempts(services: Services, ctx: RequestContext, call: ModelCall) -> list[UsageRecord]:
    """A row (status ``error``) for each failed attempt that reported tokens: the provider bills it.

    Each row has its own request id (derived from the call's, so a replay writes it once)
    and names the call in ``attempt_of``; it holds no budget reservation.
    """
    rows: list[UsageRecord] = []
    for i, f in enumerate(call.failed_attempts, start=1):
        if not f.usage:
            continue
        model = f.model
        usage = CODECS[f.dialect].usage(f.usage) or Usage()
        price = services.prices.get(model.id)
        rows.append(
            UsageRecord(
                request_id=str(uuid.uuid5(uuid.UUID(call.request_id), f"attempt-{i}")),
                organization_id=ctx.principal.organization_id,
                user_id=ctx.principal.user_id,
                model=model.id,
                provider=model.provider,
                tier=model.tier,
                created_at=ctx.created_at,
                conversation_id=ctx.conversation_id,
                request_type=ctx.request_type,
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                cache_creation_tokens=usage.cache_write_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cost_millicents=cost_millicents(price, usage) if price is not None else 0,
                status="error",
                auto_routed=ctx.decision is not None,
                deployment=f.deployment,
                attempt_of=call.request_id,
            )
        )
    return rows


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
        if call.on_settled is not None:
            # The serving deployment's in-flight slot and circuit verdict (a client who left
            # says nothing about the deployment's health).
            call.on_settled(True if status == "success" else None if status == "cancelled" else False)
        if call.deadline_alarm is not None:
            call.deadline_alarm.cancel()
        services = self.services
        if not services.tracing.enabled:
            return self._settle(call, status, usage, usage_final, reply_text, thinking, http_status)[0]
        with services.tracing.span("gateway settlement", {"gateway.status": status}) as span:
            cost, measured = self._settle(call, status, usage, usage_final, reply_text, thinking, http_status)
            span.set_attributes(
                {
                    "gen_ai.response.model": call.entry.id,
                    "gateway.tier": call.model_tier,
                    "gateway.cost_usd": usd_float(cost),
                    "gateway.cost_millicents": cost,
                    "gen_ai.usage.input_tokens": measured.input_tokens
                    + measured.cache_write_tokens
                    + measured.cache_read_tokens,
                    "gen_ai.usage.output_tokens": measured.output_tokens,
                    "gateway.usage_estimated": measured.estimated,
                }
            )
        return cost

    def _settle(
        self,
        call: ModelCall,
        status: str,
        usage: dict[str, Any] | None,
        usage_final: bool,
        reply_text: str,
        thinking: str,
        http_status: int,
    ) -> tuple[int, Usage]:
        ctx, services = self._ctx, self.services
        measured: Usage | None = None
        cost = 0
        try:
            measured = _usage(call, ctx, usage, usage_final, status, reply_text, thinking)
            price = services.prices.get(call.entry.id)
            cost = cost_millicents(price, measured) if price is not None else 0
            self._record(call, status, measured, cost, reply_text, thinking, http_status)
        finally:
            # Whatever happened above, the holds go back (a failed record must not leak a hold).
            if call.holds:
                m = measured or Usage()
                input_tokens = m.input_tokens + m.cache_write_tokens + m.cache_read_tokens
                release_all(call.holds, CallOutcome(status, cost, input_tokens, m.output_tokens))
        return cost, measured if measured is not None else Usage()  # (set: an exception never gets here)

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
                reserved_millicents=call.reserved_millicents if call.holds else 0,
                deployment=call.deployment,
                holds=recorded_budget_holds(call.holds) if call.holds else (),
                api_key_id=principal.key_id,
            )
        )
        if call.failed_attempts:
            for record in billable_attempts(services, ctx, call):
                q.put(record)
        call.outcome = CallOutcomeRecord(status, usage, cost, reply_text, thinking)
        if call.request_id == ctx.answer_call and (ctx.decision is not None or ctx.conversation_id is not None):
            self.record_answer(call)  # (nothing to record without a decision or a conversation)
        if principal.key_id is not None:
            # The key was used when this request arrived (no second clock read and format).
            q.put(KeyTouch(key_id=principal.key_id, used_at=ctx.created_at))
        elapsed = now - ctx.started
        services.metrics.call_settled(
            ctx.codec.endpoint,
            call.entry.id,
            call.entry.provider,
            str(http_status),
            elapsed,
            max(0.0, elapsed - call.upstream_wait),
            call.first_byte_at - ctx.started if call.first_byte_at is not None and ctx.stream else None,
            (
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cache_write", usage.cache_write_tokens),
                ("cache_read", usage.cache_read_tokens),
            ),
            cost,
        )

    def record_answer(self, call: ModelCall) -> None:
        """The routing decision and the conversation turn of the call whose answer the client got.

        Called by :meth:`_record` for ``ctx.answer_call``, or by a strategy (the cascade) once
        it has chosen among calls that already settled.
        """
        ctx, services = self._ctx, self.services
        outcome = call.outcome
        if outcome is None:
            return
        status, usage, cost, reply_text, thinking = (
            outcome.status,
            outcome.usage,
            outcome.cost,
            outcome.reply_text,
            outcome.thinking,
        )
        principal = ctx.principal
        q = services.queue
        d = ctx.decision
        if d is not None:
            q.put(
                DecisionRecord(
                    request_id=ctx.request_id,  # the client-visible id (what feedback names)
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
                    + (" (fell back to the nearest tier this caller may use)" if ctx.auto_fell_back else "")
                    + (
                        f" (model {call.fell_back_from} failed; {call.entry.id} served after {call.attempts} attempts)"
                        if call.fell_back_from
                        else ""
                    ),
                    query_length=d.query_length,
                    request_succeeded=status == "success",
                    response_tokens=usage.output_tokens,
                    # A cascade's decision costs every call it made (drafts, judge, escalation).
                    estimated_cost_millicents=(
                        sum(c.outcome.cost for c in self.calls if c.outcome is not None)
                        if ctx.route_mode == "cascade"
                        else cost
                    ),
                    config_version=d.config_version,
                    query_text=ctx.router_query,
                    fallback_from=call.fell_back_from,
                    attempts=call.attempts,
                )
            )
            services.metrics.child(services.metrics.routing, d.complexity).inc()
        if status == "success":
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
