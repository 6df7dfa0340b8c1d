"""Scripted upstream objects for the attempt loop's unit tests (the network seam's shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from gateway.config import Dialect
from gateway.errors import UpstreamError
from gateway.providers.upstream import UpstreamResponse


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"

    async def read(self) -> bytes:
        return self.body

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.body

    async def read_chunk(self) -> bytes:
        body, self.body = self.body, b""
        return body

    async def close(self) -> None:
        return None


@dataclass
class FakeProvider:
    """Answers from a list: a FakeResponse, or an UpstreamError to raise."""

    name: str
    dialect: Dialect = "openai"
    script: list[FakeResponse | UpstreamError] = field(default_factory=list)
    calls: int = 0

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        self.calls += 1
        step = self.script.pop(0) if self.script else FakeResponse()
        if isinstance(step, UpstreamError):
            raise step
        return step
