"""What every provider is: a name, a dialect, and a way to send one request body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamResponse


class Provider(Protocol):
    name: str
    dialect: Dialect

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        """POST ``body`` (already in this provider's dialect) and return the raw response.

        ``headers`` are client headers the provider defines (e.g. ``anthropic-beta``), added to
        the provider's own; they never carry credentials. ``first_byte_timeout_s`` bounds the
        wait for the response headers.
        """
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

    async def send_to(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        first_byte_timeout_s: float | None = None,
    ) -> UpstreamResponse:
        """POST ``body`` to ``path`` under the provider's API root (``headers``, timeout as for ``send``)."""
        ...
