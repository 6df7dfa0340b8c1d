"""OpenAI, and any OpenAI-compatible server (vLLM, Ollama, a mock) by base URL."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamClient, UpstreamResponse


class OpenAIProvider:
    dialect: Dialect = "openai"

    def __init__(self, name: str, base_url: str, api_key: str | None, client: UpstreamClient) -> None:
        self.name = name
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client = client

    async def send(self, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamResponse:
        return await self._client.post(self._url, {**self._headers, **headers} if headers else self._headers, body)
