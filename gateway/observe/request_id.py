"""A request id for every litestar route too: in ``x-request-id``, in the logs and in error bodies' header.

The proxy doors make their own id in the pipeline; this middleware is mounted only on the
other routes, so the hot path pays nothing for it. The id goes where
``gateway.http.errors.handle_exception`` looks for it (``scope["state"]["request_id"]``).
"""

from __future__ import annotations

import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observe.logs import request_id


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        token = request_id.set(rid)
        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    return middleware
