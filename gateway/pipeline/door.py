"""The door: what the pipeline needs from the HTTP server, and nothing more.

A door moves bytes: it hands over the request headers and body, sends a whole response or
a stream of frames, and says when the client has gone. ``gateway.http.proxy_routes`` is the
ASGI door; tests drive the pipeline through an in-memory one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol


class ClientGone(Exception):
    """The client disconnected before its response was complete (settled as ``cancelled``)."""


class Door(Protocol):
    """One client request's connection."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers the pipeline reads, lower-case names."""
        ...

    @property
    def started(self) -> bool:
        """Whether the response head has been sent."""
        ...

    @property
    def status(self) -> int | None:
        """The status sent (None before the head)."""
        ...

    async def read_body(self, limit: int) -> bytes:
        """The whole request body (``PayloadTooLarge`` past ``limit`` bytes)."""
        ...

    async def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Send a whole JSON response."""
        ...

    async def open_stream(self, headers: dict[str, str]) -> None:
        """Send a 200 event-stream head."""
        ...

    async def send(self, data: bytes) -> None:
        """Send stream bytes as they are."""
        ...

    async def close_stream(self) -> None:
        """End the stream."""
        ...

    async def disconnected(self) -> None:
        """Return once the client has gone (call only after the body was read)."""
        ...


async def unless_gone(door: Door, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` while watching the client; cancel it and raise ``ClientGone`` if the client leaves."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(door.disconnected())
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise ClientGone
    task.result()
