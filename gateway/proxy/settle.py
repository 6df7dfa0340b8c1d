"""Settlement: turn what the provider reported into usage, cost and queued records.

Runs once per request, after the last byte (or the failure, or the client's
disconnect). It does no I/O: records go to the write queue.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gateway.proxy.context import RequestContext
from gateway.proxy.conversations import turn_append
from gateway.services import Services
from gateway.store.records import DecisionRecord, KeyTouch, UsageRecord
from pricing import Usage, cost_millicents, merge_anthropic, usage_from_anthropic, usage_from_openai


def estimate_tokens(chars: int) -> int:
    """A rough token count for text whose usage the provider never reported (~4 chars/token)."""
    return (chars + 3) // 4


def normalize_usage(dialect: str, raw: list[dict[str, Any]] | dict[str, Any] | None) -> Usage | None:
    """Provider usage (one mapping, or Anthropic's start + delta mappings) as ``Usage``."""
    if not raw:
        return None
    items = raw if isinstance(raw, list) else [raw]
    if dialect == "anthropic":
        usage = usage_from_anthropic(items[0])
        for delta in items[1:]:
            usage = merge_anthropic(usage, delta)
        return usage
    return usage_from_openai(items[-1])


def settle(
    services: Services,
    ctx: RequestContext,
    *,
    status: str,
    upstream_usage: list[dict[str, Any]] | dict[str, Any] | None,
    reply_text: str = "",
    thinking: str | None = None,
    http_status: int = 200,
) -> int:
    """Queue the usage row, the routing decision and the conversation turn. Returns the cost."""
    if ctx.settled:
        return 0
    ctx.settled = True
    usage = normalize_usage(ctx.provider.dialect, upstream_usage)
    if usage is None:
        if status == "success" or reply_text:
            # No usage from the provider (e.g. the client left mid-stream): estimate, and say so.
            usage = Usage(
                input_tokens=estimate_tokens(ctx.prompt_chars),
                output_tokens=estimate_tokens(len(reply_text) + len(thinking or "")),
                estimated=True,
            )
        else:
            usage = Usage()
    elif usage.output_tokens == 0 and reply_text and status != "success":
        usage = Usage(
            input_tokens=usage.input_tokens,
            output_tokens=estimate_tokens(len(reply_text)),
            cache_write_tokens=usage.cache_write_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            estimated=True,
        )
    price = services.prices.get(ctx.entry.id)
    cost = cost_millicents(price, usage) if price is not None else 0
    now = time.perf_counter()
    latency_ms = int((now - ctx.started) * 1000)
    ttft_ms = int((ctx.first_byte_at - ctx.started) * 1000) if ctx.first_byte_at is not None else None
    q = services.queue
    q.put(
        UsageRecord(
            request_id=ctx.request_id,
            organization_id=ctx.principal.organization_id,
            user_id=ctx.principal.user_id,
            model=ctx.entry.id,
            provider=ctx.entry.provider,
            tier=ctx.tier,
            created_at=ctx.created_at,
            conversation_id=ctx.conversation_id,
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
            reserved_millicents=ctx.reserved_millicents,
            holds=ctx.budget_holds,
            api_key_id=ctx.principal.key_id,
        )
    )
    d = ctx.decision
    if d is not None:
        q.put(
            DecisionRecord(
                request_id=ctx.request_id,
                created_at=ctx.created_at,
                user_id=ctx.principal.user_id,
                organization_id=ctx.principal.organization_id,
                conversation_id=ctx.conversation_id,
                provider=ctx.entry.provider,
                conversation_turn=ctx.conversation_turn,
                selected_model=ctx.entry.id,
                tier=d.tier,
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
        services.metrics.child(services.metrics.routing, d.tier).inc()
    if status == "success":
        append = turn_append(
            ctx,
            reply_text=reply_text,
            thinking=thinking,
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
    if ctx.principal.key_id is not None:
        q.put(KeyTouch(key_id=ctx.principal.key_id, used_at=datetime.now(UTC).isoformat()))
    m = services.metrics
    model = ctx.entry.id
    m.child(m.requests, ctx.endpoint, model, ctx.entry.provider, str(http_status)).inc()
    m.child(m.latency, ctx.endpoint).observe(now - ctx.started)
    m.child(m.overhead, ctx.endpoint).observe(max(0.0, (now - ctx.started) - ctx.upstream_wait))
    if ctx.first_byte_at is not None and ctx.stream:
        m.child(m.ttft, ctx.endpoint).observe(ctx.first_byte_at - ctx.started)
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
    services.budget.settle(ctx, cost)
    services.limits.settle(ctx, usage.input_tokens + usage.output_tokens)
    return cost
