"""Arena model calls through the pipeline's own steps, one "lane" per model.

A lane is one model answering in its provider's own dialect: the arena writes the body
that dialect's codec parses (so nothing is translated), and the call goes through the same
steps as a proxied request: tier check (``resolve_model``), admission (budget and whatever
else ``services.admission`` holds), ``services.attempt`` (retries and fallbacks when those
wrap it), the route's stream observer, and ``Settlement`` (one usage row per call, with the
lane's ``request_type``).

``admit_all`` admits every lane before any is sent: a refusal of one releases what the
others took (their strict budget reservations included) and no call goes upstream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.auth.principal import Principal
from gateway.config import ModelEntry
from gateway.dialects.sse import SSEParser
from gateway.errors import GatewayError, UpstreamError
from gateway.pipeline.admission import release_all
from gateway.pipeline.attempt import report_failure
from gateway.pipeline.codecs import CODECS
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.resolve import resolve_model, system_prefix
from gateway.pipeline.route import route_for
from gateway.pipeline.settlement import Settlement
from gateway.policy.budget_state import release_reservations
from gateway.policy.request import CallOutcome
from pricing import Usage

if TYPE_CHECKING:
    from gateway.services import Services

_enc = msgspec.json.Encoder()
Emit = Callable[[str, str], None]  # (kind: "content" | "thinking", text)


@dataclass(slots=True)
class Outcome:
    """What one lane produced: the answer, its usage and timing, or its error."""

    content: str = ""
    thinking: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_millicents: int = 0
    error: GatewayError | None = None
    started_at: str = ""
    completed_at: str = ""
    duration_ms: int = 0
    ttft_ms: int | None = None
    complete: bool = True  # the stream ended as a finished reply does

    def metrics(self, request_id: str) -> dict[str, Any]:
        """The seed's ``metrics`` object of a response."""
        u = self.usage
        secs = self.duration_ms / 1000.0
        return {
            "requestId": request_id,
            "inputTokens": u.input_tokens,
            "outputTokens": u.output_tokens,
            "cacheReadTokens": u.cache_read_tokens,
            "cacheWriteTokens": u.cache_write_tokens,
            "usageEstimated": u.estimated,
            "costMillicents": self.cost_millicents,
            "ttftMs": self.ttft_ms,
            "tokensPerSecond": round(u.output_tokens / secs, 1) if secs > 0 and u.output_tokens else None,
            "complete": self.complete,
        }


@dataclass(slots=True)
class Lane:
    ctx: RequestContext
    call: ModelCall
    body: bytes


def provider_body(
    entry: ModelEntry, dialect: str, turns: list[dict[str, str]], settings: dict[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The request in the provider's own dialect, from the battle's turns and settings."""
    max_tokens = settings.get("maxTokens") or entry.default_max_tokens
    temperature = settings.get("temperature")
    if dialect == "anthropic":
        system = "\n\n".join(t["content"] for t in turns if t["role"] == "system")
        body: dict[str, Any] = {
            "model": entry.id,
            "max_tokens": max_tokens,
            "messages": [t for t in turns if t["role"] != "system"],
            "stream": stream,
        }
        if system:
            body["system"] = system
        if settings.get("extendedThinkingEnabled"):
            budget = int(settings.get("thinkingBudgetTokens") or 2048)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            body["max_tokens"] = max(int(max_tokens), budget + 1024)
        elif temperature is not None:
            # Anthropic accepts 0-1 and refuses a temperature with thinking on.
            body["temperature"] = min(float(temperature), 1.0)
        return body
    body = {"model": entry.id, "messages": turns, "stream": stream, "max_completion_tokens": max_tokens}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if temperature is not None:
        body["temperature"] = temperature
    effort = settings.get("reasoningEffort") or ("medium" if settings.get("extendedThinkingEnabled") else None)
    if effort:
        body["reasoning_effort"] = effort
    return body


async def prepare(
    services: Services,
    principal: Principal,
    entry: ModelEntry,
    body: dict[str, Any],
    *,
    request_type: str,
    request_id: str | None = None,
) -> Lane:
    """One model call for ``body`` (already in the provider's dialect): resolved, routed, not yet admitted."""
    provider = services.providers.get(entry.provider)
    dialect = provider.dialect if provider is not None else "openai"
    codec = CODECS[dialect]
    parsed = codec.parse(_enc.encode(body))
    ctx = RequestContext(
        request_id=request_id or str(uuid.uuid4()),
        started=time.perf_counter(),
        created_at=datetime.now(UTC).isoformat(),
        codec=codec,
        principal=principal,
        parsed=parsed,
        request_type=request_type,
    )
    resolved = await resolve_model(services, ctx)
    route = route_for(codec, resolved.provider.dialect)
    max_out = parsed.max_output_tokens or resolved.entry.default_max_tokens
    upstream = route.upstream_body(parsed, resolved.entry.upstream, system_prefix(principal))
    call = ModelCall(
        request_id=ctx.call_id(),
        entry=resolved.entry,
        provider=resolved.provider,
        route=route,
        model_tier=resolved.model_tier,
        max_output_tokens=int(max_out),
    )
    return Lane(ctx, call, upstream)


async def admit_all(services: Services, lanes: list[Lane]) -> None:
    """Admit every lane, or none: a refusal gives back what the earlier lanes took, then re-raises."""
    admitted: list[Lane] = []
    try:
        for lane in lanes:
            lane.call.holds = await services.admission.admit(lane.call.policy_request(lane.ctx))
            admitted.append(lane)
    except BaseException:  # re-raised: the lanes admitted so far give their holds back first
        held = [lane.call.request_id for lane in admitted if lane.call.reserved_millicents > 0]
        for lane in admitted:
            release_all(lane.call.holds, CallOutcome("error"))
            lane.call.holds = []
        if held:
            # Strict reservations live in PostgreSQL and are normally released with the usage
            # row; these calls will never have one.
            async with services.pool.connection() as conn, conn.transaction():
                await release_reservations(conn, held, "group_refused")
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def run_streamed(services: Services, lane: Lane, emit: Emit) -> Outcome:
    """Send an admitted lane, stream its deltas to ``emit``, settle it; never raises a ``GatewayError``."""
    ctx, call = lane.ctx, lane.call
    out = Outcome(started_at=_now())
    t0 = time.perf_counter()
    relay = call.route.stream(call.entry.id, True)
    async with Settlement(services, ctx) as settlement:
        settlement.track(call)
        status, http_status = "success", 200
        try:
            resp = await services.attempt(call, lane.body)
        except GatewayError as exc:
            out.error = exc
            status, http_status = "error", exc.status
        else:
            parser = SSEParser()
            seen_text = seen_thinking = 0
            try:
                t = time.perf_counter()
                async for chunk in resp.chunks():
                    call.upstream_wait += time.perf_counter() - t
                    relay.feed(parser.feed(chunk))
                    text, thinking = relay.text, relay.thinking
                    if len(text) > seen_text or len(thinking) > seen_thinking:
                        if call.first_byte_at is None:
                            call.first_byte_at = time.perf_counter()
                        if len(thinking) > seen_thinking:
                            emit("thinking", thinking[seen_thinking:])
                        if len(text) > seen_text:
                            emit("content", text[seen_text:])
                        seen_text, seen_thinking = len(text), len(thinking)
                    t = time.perf_counter()
                relay.feed(parser.close())
                relay.finish()
                if relay.error:
                    out.error = UpstreamError(f"the provider reported an error mid-stream: {relay.error}")
                    status, http_status = "error", 502
            except UpstreamError as exc:
                report_failure(services.metrics, call, exc.code, None)
                out.error = exc
                status, http_status = "error", exc.status
            finally:
                await resp.close()
        out.cost_millicents = settlement.settle(
            call,
            status=status,
            usage=relay.usage,
            reply_text=relay.text,
            thinking=relay.thinking,
            http_status=http_status,
        )
    _finish(out, call, ctx, relay.text, relay.thinking, relay.usage, t0)
    out.complete = relay.complete and out.error is None
    return out


async def run_whole(services: Services, lane: Lane) -> Outcome:
    """Send an admitted lane and read the whole answer; settle it. Raises the call's ``GatewayError``."""
    ctx, call = lane.ctx, lane.call
    out = Outcome(started_at=_now())
    t0 = time.perf_counter()
    async with Settlement(services, ctx) as settlement:
        settlement.track(call)
        resp = await services.attempt(call, lane.body)
        try:
            data = await resp.read()
        finally:
            await resp.close()
        _body, summary = call.route.response(data, call.entry.id)
        call.first_byte_at = time.perf_counter()
        out.cost_millicents = settlement.settle(
            call, status="success", usage=summary.usage, reply_text=summary.text, thinking=summary.thinking
        )
    _finish(out, call, ctx, summary.text, summary.thinking, summary.usage, t0)
    return out


def _finish(
    out: Outcome,
    call: ModelCall,
    ctx: RequestContext,
    text: str,
    thinking: str,
    raw_usage: dict[str, Any] | None,
    t0: float,
) -> None:
    out.content, out.thinking = text, thinking
    out.usage = call.route.provider.usage(raw_usage) or Usage()
    out.completed_at = _now()
    out.duration_ms = int((time.perf_counter() - t0) * 1000)
    if call.first_byte_at is not None:
        out.ttft_ms = int((call.first_byte_at - ctx.started) * 1000)
