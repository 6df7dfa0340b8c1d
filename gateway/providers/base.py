"""What every provider is: a name, a dialect, and a way to send one request body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamResponse


class Provider(Protocol):
    name: str
    dialect: Dialect

    async def send(self, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamResponse:
        """POST ``body`` (already in this provider's dialect) and return the raw response.

        ``headers`` are client headers the provider defines (e.g. ``anthropic-beta``), added to
        the provider's own; they never carry credentials.
        """
        ...
