"""The door: what the pipeline needs from the HTTP server, and nothing more.

A door moves bytes: it hands over the request headers and body, sends a whole response or
a stream of frames, and says when the client has gone. ``gateway.http.proxy_routes`` is the
ASGI door; tests drive the pipeline through an in-memory one.
"""

from __future__ import annotations

import asyncio
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

    def cancels_on_disconnect(self, task: asyncio.Task[Any] | None) -> bool:
        """Have the server cancel ``task`` if the client leaves (None: no longer); False if it cannot."""
        ...

    @property
    def client_left(self) -> bool:
        """Whether the server cancelled the request because the client left (see ``cancels_on_disconnect``)."""
        ...


# A request answered within this many seconds never starts a watch of its client: the
# watch (a task blocked on the connection) costs more than the whole gateway overhead of a
# fast request, and a client that leaves sooner is still noticed at that moment.
WATCH_AFTER_S = 0.25


class _Watch:
    """Watches the client for one request from ``WATCH_AFTER_S`` on; cancels the request's task if it leaves."""

    __slots__ = ("door", "gone", "over", "task", "timer", "watcher")

    def __init__(self, door: Door, task: asyncio.Task[Any]) -> None:
        self.door = door
        self.task = task
        self.gone = False
        self.over = False
        self.watcher: asyncio.Task[None] | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self.start)

    def start(self) -> None:
        if not self.over:
            self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        await self.door.disconnected()
        if not self.over:
            self.gone = True
            self.task.cancel()

    def stop(self) -> None:
        self.over = True
        self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()


async def unless_gone(door: Door, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` while watching the client; cancel it and raise ``ClientGone`` if the client leaves.

    ``work`` runs in the caller's task (no task of its own). When the server can cancel the
    task itself as the connection drops (``Door.cancels_on_disconnect``: the gateway's own
    HTTP protocol), nothing more is set up; otherwise a watch starts once the request has
    taken ``WATCH_AFTER_S``.
    """
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside the server's request task
        await work
        return
    watch = None if door.cancels_on_disconnect(task) else _Watch(door, task)
    try:
        await work
    except asyncio.CancelledError:
        if (door.client_left if watch is None else watch.gone) and task.uncancel() == 0:
            raise ClientGone from None
        raise
    finally:
        if watch is None:
            door.cancels_on_disconnect(None)
        else:
            watch.stop()
    if (door.client_left if watch is None else watch.gone) and task.cancelling():
        # The client left just as the work ended: its cancel is taken back, the request is gone.
        task.uncancel()
        raise ClientGone
