"""A request id for every litestar route too: in ``x-request-id``, in the logs and in error bodies' header.

The proxy doors make their own id in the pipeline; this middleware is mounted only on the
other routes, so the hot path pays nothing for it. The id goes where
``gateway.http.errors.handle_exception`` looks for it (``scope["state"]["request_id"]``).
"""

from __future__ import annotations

import random
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observe.logs import request_id


def new_request_id() -> str:
    """A random (version 4) UUID string, for request and call ids.

    ``str(uuid.uuid4())`` costs a system call and the ``UUID`` class's checks (~10 us on the
    hot path); an id needs uniqueness, not secrecy, so 122 bits from ``random`` (seeded from
    the OS, and again in every forked child) formatted by hand do.
    """
    n = random.getrandbits(128) & ~(0xC000 << 48) & ~(0xF000 << 64) | (0x8000 << 48) | (0x4000 << 64)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
