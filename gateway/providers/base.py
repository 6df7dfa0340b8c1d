"""What every provider is: a name, a dialect, and a way to send one request body."""

from __future__ import annotations

from typing import Protocol

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamResponse


class Provider(Protocol):
    name: str
    dialect: Dialect

    async def send(self, body: bytes, *, first_byte_timeout_s: float | None = None) -> UpstreamResponse:
        """POST ``body`` (already in this provider's dialect) and return the raw response.

        ``first_byte_timeout_s`` bounds the wait for the response headers.
        """
        ...
