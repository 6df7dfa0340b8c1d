"""Relay: the provider's answer to the client, observed (or translated) on the way.

Streams are relayed event by event as they arrive: upstream bytes are split into SSE
events, the route's stream relay observes or translates them, and whatever is complete is
written to the client at once. A call is settled as soon as its outcome is known.
"""

from __future__ import annotations

import asyncio
import time

from gateway.alarm import Alarm
from gateway.dialects.sse import SSEParser
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.pipeline.attempt import report_failure
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.door import Door
from gateway.pipeline.route import StreamRelay
from gateway.pipeline.settlement import Settlement
from gateway.providers.upstream import UpstreamResponse
from gateway.resilience.keepalive import TOTAL_DEADLINE_MESSAGE, keepalive_frame, paced


async def relay_whole(
    ctx: RequestContext, call: ModelCall, resp: UpstreamResponse, door: Door, settlement: Settlement
) -> None:
    """Read the whole answer, settle the call, send the client's response."""
    t0 = time.perf_counter()
    try:
        if call.deadline_at is None:
            data = await resp.read()
        else:
            alarm = call.deadline_alarm
            if alarm is None:
                alarm = Alarm.at(call.deadline_at)
            elif not alarm.arm():
                raise UpstreamTimeout(TOTAL_DEADLINE_MESSAGE)
            try:
                data = await resp.read()
            except asyncio.CancelledError:
                if alarm.expired():
                    raise UpstreamTimeout(TOTAL_DEADLINE_MESSAGE) from None
                raise
            finally:
                alarm.cancel()
    except UpstreamError as exc:
        call.upstream_wait += time.perf_counter() - t0
        report_failure(settlement.services.metrics, call, exc.code, None, exc)
        raise
    call.upstream_wait += time.perf_counter() - t0
    try:
        body, summary = call.route.response(data, call.entry.id)
    except UpstreamError as exc:
        report_failure(settlement.services.metrics, call, exc.code, resp.status, exc)
        raise
    call.first_byte_at = time.perf_counter()
    settlement.settle(call, status="success", usage=summary.usage, reply_text=summary.text, thinking=summary.thinking)
    await door.respond(200, ctx.response_headers(call), body)


async def relay_stream(
    ctx: RequestContext, call: ModelCall, resp: UpstreamResponse, door: Door, settlement: Settlement
) -> None:
    """Relay a stream to the client; settle the call with what the stream said, however it ended."""
    kind = resp.content_type
    if kind is not None and "event-stream" not in kind and kind != "application/octet-stream":
        # An HTML error page or a JSON body is not a stream, whatever the status said.
        await resp.close()
        exc = UpstreamError(
            f"the provider '{call.provider.name}' answered a stream request with '{kind}', not an event stream",
            code="upstream_not_a_stream",
        )
        report_failure(settlement.services.metrics, call, exc.code, resp.status)
        raise exc
    relay = call.route.stream(call.entry.id, ctx.parsed.include_usage)
    parser = SSEParser()
    status, http_status = "success", 200
    await door.open_stream(ctx.response_headers(call))
    settings = settlement.services.settings
    keepalive = b""
    if call.deadline_at is None:
        source = resp.chunks()
    else:
        # Idle and total deadlines, and keep-alives (b"" ticks) during long silences.
        keepalive = keepalive_frame(ctx.codec.dialect)
        source = paced(
            resp.read_chunk,
            idle_s=settings.stream_idle_timeout_s,
            keepalive_s=settings.keepalive_s,
            deadline_at=call.deadline_at,
            adopt=call.deadline_alarm,
        )
    try:
        t = time.perf_counter()
        async for chunk in source:
            now = time.perf_counter()
            call.upstream_wait += now - t
            if not chunk:
                await door.send(keepalive)
                t = time.perf_counter()
                continue
            payload = relay.feed(parser.feed(chunk))
            if payload:
                if call.first_byte_at is None:
                    call.first_byte_at = now
                if relay.complete and not call.settled:
                    # The reply is whole: record it before the client sees the end (a client that
                    # hangs up right after the end marker must not turn a success into a cancel).
                    _settle(settlement, call, relay, "success", 200)
                await door.send(payload)
            t = time.perf_counter()
        tail = relay.feed(parser.close()) + relay.finish()
        if relay.error:
            status, http_status = "error", 502
            report_failure(settlement.services.metrics, call, "stream_error", None, RuntimeError(relay.error))
        elif relay.complete and not call.settled:
            _settle(settlement, call, relay, status, http_status)
        if tail:
            await door.send(tail)
    except UpstreamError as exc:
        status, http_status = "error", exc.status
        report_failure(settlement.services.metrics, call, exc.code, None, exc)
        await door.send(ctx.codec.error_frame(exc) + ctx.codec.stream_end)
    except (asyncio.CancelledError, GeneratorExit):
        status, http_status = "cancelled", 499
        raise
    finally:
        await resp.close()
        _settle(settlement, call, relay, status, http_status)
    await door.close_stream()


def _settle(settlement: Settlement, call: ModelCall, relay: StreamRelay, status: str, http_status: int) -> None:
    settlement.settle(
        call,
        status=status,
        usage=relay.usage,
        usage_final=relay.usage_final,
        reply_text=relay.text,
        thinking=relay.thinking,
        http_status=http_status,
    )
