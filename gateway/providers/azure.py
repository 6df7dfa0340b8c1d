"""Azure OpenAI: one deployment per model, ``api-version`` in the query, an ``api-key`` header.

The catalog entry's ``upstream`` is the deployment name; requests go to
``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=...`` (and the
same deployment's ``/embeddings``). The body keeps OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import msgspec

from gateway.config import Dialect
from gateway.errors import InvalidRequest
from gateway.providers.json_api import JsonApiProvider
from gateway.providers.upstream import UpstreamClient, UpstreamResponse

DEFAULT_API_VERSION = "2024-10-21"


class _Model(msgspec.Struct):
    model: str = ""


_MODEL = msgspec.json.Decoder(_Model)


class AzureOpenAIProvider(JsonApiProvider):
    dialect: Dialect = "openai"
    responses_api = False

    def __init__(
        self, name: str, base_url: str, api_key: str | None, api_version: str | None, client: UpstreamClient
    ) -> None:
        self.name = name
        self._root = base_url.rstrip("/")
        self._version = api_version or DEFAULT_API_VERSION
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            self._headers["api-key"] = api_key
        self._client = client

    def _address(self, path: str, body: bytes) -> str:
        # The deployment is in the URL, not the body: read only the model field to find it.
        deployment = _MODEL.decode(body).model
        if not deployment:
            raise InvalidRequest("an Azure OpenAI request needs a model (the deployment name)")
        return f"{self._root}/openai/deployments/{quote(deployment, safe='')}{path}?api-version={self._version}"

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        return await self.send_to("/chat/completions", body, headers, first_byte_timeout_s=first_byte_timeout_s)
