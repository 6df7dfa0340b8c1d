"""The part the OpenAI and Anthropic providers share: POST a JSON body under one API root."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.providers.upstream import UpstreamClient, UpstreamResponse


class JsonApiProvider:
    """``send`` to the provider's main endpoint, ``send_to`` any other under the same root.

    Subclasses set ``_root`` (the API root), ``_url`` (the main endpoint), ``_headers`` (the
    provider's own, credentials included) and ``_client`` in their constructor.
    """

    _root: str
    _url: str
    _headers: dict[str, str]
    _client: UpstreamClient

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        return await self._client.post(
            self._url,
            {**self._headers, **headers} if headers else self._headers,
            body,
            first_byte_timeout_s=first_byte_timeout_s,
        )

    def _address(self, path: str, body: bytes) -> str:
        """The URL of ``path`` under the API root (a provider may derive it from the body too)."""
        return self._root + path

    async def send_to(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        first_byte_timeout_s: float | None = None,
    ) -> UpstreamResponse:
        """POST to another endpoint of the same API (``/embeddings``, ``/messages/count_tokens``...)."""
        return await self._client.post(
            self._address(path, body),
            {**self._headers, **headers} if headers else self._headers,
            body,
            first_byte_timeout_s=first_byte_timeout_s,
        )
