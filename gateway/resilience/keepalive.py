"""Reading a stream under the idle and total deadlines, with keep-alives during silences.

``paced`` yields each upstream chunk as it arrives, and ``b""`` after every ``keepalive_s``
of silence, so the relay can send the client its dialect's keep-alive (an SSE comment for
OpenAI clients, an ``event: ping`` for Anthropic ones, both of which the SDKs skip) and no
proxy or load balancer on the way cuts a stream whose model is thinking. Silence longer than
``idle_s``, or reaching the total deadline, ends the stream with ``UpstreamTimeout``.

The read must be cancel-safe (``UpstreamResponse.read_chunk``): a timeout here cancels only
the wait, never data already received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from gateway.alarm import Alarm
from gateway.errors import UpstreamTimeout

OPENAI_KEEPALIVE = b": keep-alive\n\n"
ANTHROPIC_KEEPALIVE = b'event: ping\ndata: {"type": "ping"}\n\n'
TOTAL_DEADLINE_MESSAGE = "the request reached its total deadline (GATEWAY_REQUEST_TIMEOUT_S or X-Gateway-Timeout-Ms)"


def keepalive_frame(client_dialect: str) -> bytes:
    return OPENAI_KEEPALIVE if client_dialect == "openai" else ANTHROPIC_KEEPALIVE


async def paced(
    read_chunk: Callable[[], Awaitable[bytes]],
    *,
    idle_s: float,
    keepalive_s: float,
    deadline_at: float,
    adopt: Alarm | None = None,
) -> AsyncIterator[bytes]:
    """Chunks until EOF (``read_chunk`` returns ``b""``); ``b""`` marks a keep-alive tick.

    One ``Alarm`` serves the three deadlines: while events flow it is only moved forward (no
    timer per event); when it goes off, the silence so far says which deadline it was.
    ``adopt``: the attempt's alarm (disarmed), taken over instead of arming a new one.
    """
    loop = asyncio.get_running_loop()
    last = loop.time()
    # After an event the next look is one step on (the idle limit or the next keep-alive,
    # whichever is sooner), never past the total deadline.
    step = min(idle_s, keepalive_s) if keepalive_s > 0 else idle_s

    def wake(now: float) -> float:
        at = min(deadline_at, last + idle_s)
        return min(at, now + keepalive_s) if keepalive_s > 0 else at

    def expiry(now: float) -> None:
        # The alarm's time came: the total or the idle deadline (raise), else a keep-alive.
        if now >= deadline_at:
            raise UpstreamTimeout(TOTAL_DEADLINE_MESSAGE) from None
        if now - last >= idle_s:
            raise UpstreamTimeout(
                f"the provider sent nothing for {idle_s:g} s mid-stream (GATEWAY_STREAM_IDLE_TIMEOUT_S)"
            ) from None
        alarm.rearm(wake(now))

    if adopt is None:
        alarm = Alarm.at(wake(last))
    else:
        alarm = adopt
        alarm.rearm(wake(last))
    try:
        while True:
            if alarm.missed:
                # It went off while the relay was sending (it cancels only during a read).
                expiry(loop.time())
                yield b""
                continue
            alarm.armed = True
            try:
                chunk = await read_chunk()
            except asyncio.CancelledError:
                alarm.armed = False
                if not alarm.expired():
                    raise
                expiry(loop.time())
                yield b""
                continue
            alarm.armed = False
            if not chunk:
                return
            last = loop.time()
            # Push the alarm on without a call per event (moving it later needs no new timer).
            when = last + step
            if when > deadline_at:
                when = deadline_at
            if when >= alarm.when:
                alarm.when = when
            else:
                alarm.move_to(when)
            yield chunk
    finally:
        alarm.cancel()
