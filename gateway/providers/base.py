"""What every provider is: a name, a dialect, and a way to send one request body."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamResponse


class Provider(Protocol):
    name: str
    dialect: Dialect

    async def send(self, body: bytes) -> UpstreamResponse:
        """POST ``body`` (already in this provider's dialect) and return the raw response."""
        ...


@runtime_checkable
class EndpointProvider(Protocol):
    """A provider that also serves side endpoints (token counting, embeddings) by path.

    ``path`` is relative to the provider's API root, e.g. ``"/embeddings"`` for an
    OpenAI-compatible server or ``"/messages/count_tokens"`` for Anthropic. Providers without
    real side endpoints (the simulator) do not implement this.
    """

    name: str
    dialect: Dialect

    async def send_to(self, path: str, body: bytes) -> UpstreamResponse:
        """POST ``body`` to ``path`` under the provider's API root."""
        ...
