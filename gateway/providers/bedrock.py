"""Claude on AWS Bedrock: Anthropic's Messages body, the model in the URL, binary streams.

``{base_url}/model/{model}/invoke`` (whole) and ``/invoke-with-response-stream`` (an AWS
event stream, read back as Anthropic SSE by ``gateway.providers.eventstream``). The body drops
``model`` and ``stream`` and names ``anthropic_version: bedrock-2023-05-31``. Authentication
is a Bedrock API key sent as a Bearer token (AWS's "API keys" for Bedrock); SigV4 signing with
IAM credentials is not implemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from gateway.config import Dialect
from gateway.errors import InvalidRequest
from gateway.providers.eventstream import EventStreamAsSSE
from gateway.providers.upstream import UpstreamClient, UpstreamResponse

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class BedrockClaudeProvider:
    dialect: Dialect = "anthropic"

    def __init__(
        self, name: str, *, region: str, api_key: str | None, client: UpstreamClient, base_url: str | None = None
    ) -> None:
        self.name = name
        self._root = (base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client = client

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        del headers  # Anthropic's feature headers (anthropic-beta) mean nothing to this cloud's endpoint
        obj: dict[str, Any] = _dec.decode(body)
        model = obj.pop("model", None)
        if not isinstance(model, str) or not model:
            raise InvalidRequest("a Bedrock request needs a model (the Bedrock model or inference profile id)")
        stream = bool(obj.pop("stream", False))
        obj["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
        url = f"{self._root}/model/{quote(model, safe='')}/{'invoke-with-response-stream' if stream else 'invoke'}"
        resp = await self._client.post(url, self._headers, _enc.encode(obj), first_byte_timeout_s=first_byte_timeout_s)
        return EventStreamAsSSE(resp) if stream and resp.status < 400 else resp
