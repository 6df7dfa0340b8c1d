"""``POST /v1/second-opinion``: the caller's body becomes an OpenAI chat request for a reviewer model.

The door reads and checks the caller's body, writes the reviewer's request
(``gateway.arena.second_opinion``) and hands the pipeline a door that serves that body with
``X-Request-Type: second-opinion``: the reply (streamed or whole), its errors, usage row,
budget and limits are exactly a chat completion's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Litestar, asgi
from litestar.types import Receive, Scope, Send

from gateway.arena.api import decode
from gateway.arena.second_opinion import SecondOpinionIn, build_request
from gateway.errors import GatewayError, InvalidRequest
from gateway.http.errors import as_gateway_error
from gateway.http.proxy_routes import AsgiDoor
from gateway.pipeline.codecs import OPENAI_CHAT
from gateway.pipeline.handle import handle
from gateway.pipeline.resolve import authenticate
from gateway.services import Services

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()


class _ReviewDoor:
    """The caller's connection, serving the reviewer's request body instead of the caller's."""

    def __init__(self, inner: AsgiDoor, headers: Mapping[str, str], body: bytes) -> None:
        self._inner = inner
        self.headers = headers
        self._body = body

    @property
    def started(self) -> bool:
        return self._inner.started

    @property
    def status(self) -> int | None:
        return self._inner.status

    async def read_body(self, limit: int) -> bytes:
        return self._body

    async def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        await self._inner.respond(status, headers, body)

    async def open_stream(self, headers: dict[str, str]) -> None:
        await self._inner.open_stream(headers)

    async def send(self, data: bytes) -> None:
        await self._inner.send(data)

    async def close_stream(self) -> None:
        await self._inner.close_stream()

    async def disconnected(self) -> None:
        await self._inner.disconnected()

    def cancels_on_disconnect(self, task: asyncio.Task[Any] | None) -> bool:
        return self._inner.cancels_on_disconnect(task)

    @property
    def client_left(self) -> bool:
        return self._inner.client_left


@asgi("/v1/second-opinion", copy_scope=False)
async def second_opinion(scope: Scope, receive: Receive, send: Send) -> None:
    """Another model reviews an answer; the reply is an OpenAI chat completion (streamed or not)."""
    services: Services = Litestar.from_scope(scope).state.services
    door = AsgiDoor(scope, receive, send)
    try:
        if scope.get("method") != "POST":
            err = InvalidRequest("/v1/second-opinion accepts POST only", code="method_not_allowed")
            err.status = 405
            raise err
        principal = await authenticate(services, door.headers)
        req: SecondOpinionIn = decode(
            await door.read_body(services.settings.max_body_bytes), SecondOpinionIn, "second-opinion request"
        )
        body = await build_request(services, principal, req)
    except Exception as exc:
        # Safe: every failure here becomes the caller's OpenAI-style error (unknown ones a 500).
        gw = as_gateway_error(exc)
        if type(gw) is GatewayError:
            log.exception("unhandled error on /v1/second-opinion")
        await door.respond(gw.status, {}, OPENAI_CHAT.error_body(gw))
        return
    headers = {k: v for k, v in door.headers.items() if k in ("authorization", "x-api-key")}
    headers["x-request-type"] = "second-opinion"
    await handle(services, OPENAI_CHAT, _ReviewDoor(door, headers, _enc.encode(body)))
