"""OpenAI, and any OpenAI-compatible server (vLLM, Ollama, a mock) by base URL."""

from __future__ import annotations

from gateway.config import Dialect
from gateway.providers.json_api import JsonApiProvider
from gateway.providers.upstream import UpstreamClient


class OpenAIProvider(JsonApiProvider):
    dialect: Dialect = "openai"

    def __init__(
        self, name: str, base_url: str, api_key: str | None, client: UpstreamClient, *, responses_api: bool = False
    ) -> None:
        self.name = name
        # Whether the server has its own /responses (OpenAI does; most compatible servers do not,
        # and get POST /v1/responses translated to Chat Completions instead).
        self.responses_api = responses_api
        self._root = base_url.rstrip("/")
        self._url = self._root + "/chat/completions"
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client = client
