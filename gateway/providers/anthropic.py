"""Anthropic's Messages API (or a compatible server by base URL)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamClient, UpstreamResponse

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider:
    dialect: Dialect = "anthropic"

    def __init__(self, name: str, base_url: str, api_key: str | None, client: UpstreamClient) -> None:
        self.name = name
        base = base_url.rstrip("/")
        # ANTHROPIC_BASE_URL is the host root in the official SDK; accept ".../v1" too.
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            "accept-encoding": "identity",
        }
        if api_key:
            self._headers["x-api-key"] = api_key
        self._client = client

    async def send(self, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamResponse:
        return await self._client.post(self._url, {**self._headers, **headers} if headers else self._headers, body)
