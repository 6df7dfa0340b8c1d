"""``POST /v1/responses`` (OpenAI Responses API) and ``GET``/``DELETE /v1/responses/{id}``.

``POST`` is the pipeline with the Responses codec (``gateway.pipeline.codecs.openai_responses``),
so usage rows, cost, budgets, AUTO decisions and conversations behave as on the other two
endpoints. What the Responses API adds on top of a model call, keeping responses
(``store``, on by default) and continuing from one (``previous_response_id``), is the door's:
``StoringDoor`` expands a chain into the request's ``input`` before the pipeline reads the
body, and stores the finished response (the whole body, or the stream's ``response.completed``
event) before the client receives it, so a ``GET`` right after finds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Litestar, Request, asgi, delete, get
from litestar.params import FromPath
from litestar.types import Receive, Scope, Send

from gateway.dialects import RequestValidationError, decode_body
from gateway.dialects.sse import SSEParser
from gateway.errors import InvalidRequest, NotFound
from gateway.http.openapi_docs import error_responses
from gateway.http.proxy_routes import AsgiDoor
from gateway.pipeline.codecs.openai_responses import OPENAI_RESPONSES
from gateway.pipeline.handle import handle
from gateway.pipeline.resolve import authenticate
from gateway.services import Services
from gateway.store.responses import ResponseStore
from gateway.translate.responses_request import response_items_from_input

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
_DONE_EVENTS = ("response.completed", "response.incomplete")


class StoringDoor:
    """A ``Door`` that keeps Responses API chains: expands them on the way in, stores on the way out."""

    def __init__(self, inner: AsgiDoor, services: Services) -> None:
        self._inner = inner
        self._services = services
        self._store = False
        self._items: list[dict[str, Any]] = []
        self._request_id = ""
        self._parser: SSEParser | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        return self._inner.headers

    @property
    def started(self) -> bool:
        return self._inner.started

    @property
    def status(self) -> int | None:
        return self._inner.status

    async def read_body(self, limit: int) -> bytes:
        body = await self._inner.read_body(limit)
        try:
            raw = decode_body(body)
            items = response_items_from_input(raw.get("input"))
        except RequestValidationError:
            return body  # the codec refuses it, in the endpoint's dialect
        previous = raw.get("previous_response_id")
        history: list[dict[str, Any]] = []
        if previous is not None:
            if not isinstance(previous, str) or not previous:
                raise InvalidRequest("previous_response_id: must be a response id", param="previous_response_id")
            principal = await authenticate(self._services, self.headers)
            stored = await ResponseStore(self._services.pool).get(principal, previous)
            if stored is None:
                raise NotFound(
                    f"previous_response_id: response '{previous}' was not found (it must be one of yours, "
                    "stored with store: true)",
                    code="response_not_found",
                    param="previous_response_id",
                )
            history = stored.items
            raw["input"] = [*history, *items]
            body = _enc.encode(raw)
        self._items = [*history, *items]
        self._store = raw.get("store", True) is not False
        return body

    async def _save(self, response: Any) -> None:
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            return
        principal = await authenticate(self._services, self.headers)
        await ResponseStore(self._services.pool).save(
            principal,
            request_id=self._request_id,
            model=str(response.get("model") or ""),
            items=[*self._items, *(response.get("output") or [])],
            response=response,
        )

    async def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if status == 200 and self._store:
            self._request_id = headers.get("x-request-id", "")
            await self._save(_dec.decode(body))
        await self._inner.respond(status, headers, body)

    async def open_stream(self, headers: dict[str, str]) -> None:
        self._request_id = headers.get("x-request-id", "")
        if self._store:
            self._parser = SSEParser()
        await self._inner.open_stream(headers)

    async def send(self, data: bytes) -> None:
        if self._parser is not None:
            for ev in self._parser.feed(data):
                if ev.event in _DONE_EVENTS:
                    await self._save(_dec.decode(ev.data).get("response"))
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


@asgi("/v1/responses", copy_scope=False)
async def create_response(scope: Scope, receive: Receive, send: Send) -> None:
    """OpenAI Responses API, streamed or not."""
    services: Services = Litestar.from_scope(scope).state.services
    door = AsgiDoor(scope, receive, send)
    if scope.get("method") != "POST":
        err = InvalidRequest(f"{scope['path']} accepts POST only", code="method_not_allowed")
        err.status = 405
        await door.respond(405, {}, OPENAI_RESPONSES.error_body(err))
        return
    await handle(services, OPENAI_RESPONSES, StoringDoor(door, services))


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"response '{response_id}' was not found", code="response_not_found")


@get(
    "/v1/responses/{response_id:str}",
    summary="A stored response of the caller (Responses API)",
    responses=error_responses(401, 404),
)
async def get_response(request: Request[Any, Any, Any], response_id: FromPath[str]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    stored = await ResponseStore(services.pool).get(principal, response_id)
    if stored is None:
        raise _not_found(response_id)
    return stored.response


@delete(
    "/v1/responses/{response_id:str}",
    status_code=200,
    summary="Delete a stored response of the caller",
    responses=error_responses(401, 404),
)
async def delete_response(request: Request[Any, Any, Any], response_id: FromPath[str]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    if not await ResponseStore(services.pool).delete(principal, response_id):
        raise _not_found(response_id)
    return {"id": response_id, "object": "response", "deleted": True}


ROUTES = [create_response, get_response, delete_response]
