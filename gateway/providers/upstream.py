"""The one seam between the gateway and the network.

Production uses aiohttp (measured: the fastest client here, see ARCHITECTURE.md);
tests may inject ``HttpxUpstream`` over an ``httpx.AsyncClient`` whose transport respx
patches, or point the aiohttp client at a local mock server. Both raise the gateway's own
upstream errors, so nothing above this module knows which client is in use. Their messages
reach clients, so they never name the provider's URL or repeat the client library's text;
the cause stays chained for the gateway's own log line (``gateway.pipeline.attempt``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import httpx

from gateway.errors import UpstreamTimeout, UpstreamUnavailable


class UpstreamResponse(Protocol):
    status: int
    content_type: str | None  # the media type, lower-case, without parameters (None when absent)

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class UpstreamClient(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> UpstreamResponse: ...

    async def close(self) -> None: ...


class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.content_type = resp.content_type if "content-type" in resp.headers else None

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("the provider connection failed") from exc
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider stopped sending mid-stream") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("the provider connection broke mid-stream") from exc

    async def close(self) -> None:
        self._resp.release()


class AiohttpUpstream:
    """A shared aiohttp session; created inside the running event loop."""

    def __init__(self, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
            # An idle timeout (no byte for timeout_s), not a total one: long streams are fine
            # as long as they keep flowing, and no per-request timer is armed.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=timeout_s),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> UpstreamResponse:
        try:
            resp = await self._session.post(url, data=body, headers=dict(headers))
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("the provider is unreachable") from exc
        return _AiohttpResponse(resp)

    async def close(self) -> None:
        await self._session.close()


class _HttpxResponse:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        kind = resp.headers.get("content-type")
        self.content_type = kind.split(";", 1)[0].strip().lower() if kind else None

    async def read(self) -> bytes:
        try:
            return await self._resp.aread()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the provider connection failed") from exc
        finally:
            await self._resp.aclose()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider stopped sending mid-stream") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the provider connection broke mid-stream") from exc

    async def close(self) -> None:
        await self._resp.aclose()


class HttpxUpstream:
    """An httpx client behind the same seam (respx-patchable in tests)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> UpstreamResponse:
        request = self._client.build_request("POST", url, headers=dict(headers), content=body)
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the provider is unreachable") from exc
        return _HttpxResponse(resp)

    async def close(self) -> None:
        await self._client.aclose()
