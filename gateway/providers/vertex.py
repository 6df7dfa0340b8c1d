"""Claude on Google Vertex AI: Anthropic's Messages body, the model in the URL.

``{base_url}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
(``:streamRawPredict`` for streams, which are Anthropic's own SSE events). The body drops
``model`` and names ``anthropic_version: vertex-2023-10-16``. ``api_key`` is an OAuth access
token (``gcloud auth print-access-token``), sent as a Bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from gateway.config import Dialect
from gateway.errors import InvalidRequest
from gateway.providers.upstream import UpstreamClient, UpstreamResponse

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class VertexClaudeProvider:
    dialect: Dialect = "anthropic"

    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        token: str | None,
        client: UpstreamClient,
        base_url: str | None = None,
    ) -> None:
        self.name = name
        host = (
            "https://aiplatform.googleapis.com" if region == "global" else f"https://{region}-aiplatform.googleapis.com"
        )
        root = (base_url or host).rstrip("/")
        self._models = f"{root}/v1/projects/{quote(project)}/locations/{quote(region)}/publishers/anthropic/models/"
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._client = client

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        del headers  # Anthropic's feature headers (anthropic-beta) mean nothing to this cloud's endpoint
        obj: dict[str, Any] = _dec.decode(body)
        model = obj.pop("model", None)
        if not isinstance(model, str) or not model:
            raise InvalidRequest("a Vertex AI request needs a model")
        obj["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
        verb = "streamRawPredict" if obj.get("stream") else "rawPredict"
        return await self._client.post(
            f"{self._models}{quote(model, safe='@')}:{verb}",
            self._headers,
            _enc.encode(obj),
            first_byte_timeout_s=first_byte_timeout_s,
        )
