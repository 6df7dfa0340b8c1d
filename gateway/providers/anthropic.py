"""Anthropic's Messages API (or a compatible server by base URL)."""

from __future__ import annotations

from gateway.config import Dialect
from gateway.providers.json_api import JsonApiProvider
from gateway.providers.upstream import UpstreamClient

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(JsonApiProvider):
    dialect: Dialect = "anthropic"

    def __init__(self, name: str, base_url: str, api_key: str | None, client: UpstreamClient) -> None:
        self.name = name
        base = base_url.rstrip("/")
        # ANTHROPIC_BASE_URL is the host root in the official SDK; accept ".../v1" too.
        self._root = base if base.endswith("/v1") else base + "/v1"
        self._url = self._root + "/messages"
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            "accept-encoding": "identity",
        }
        if api_key:
            self._headers["x-api-key"] = api_key
        self._client = client
