"""The one seam between the gateway and the network.

Production uses aiohttp (measured: the fastest client here, see ARCHITECTURE.md);
tests may inject ``HttpxUpstream`` over an ``httpx.AsyncClient`` whose transport respx
patches, or point the aiohttp client at a local mock server. Both raise the gateway's own
upstream errors, so nothing above this module knows which client is in use. Their messages
reach clients, so they never name the provider's URL or repeat the client library's text;
the cause stays chained for the gateway's own log line (``gateway.pipeline.attempt``).

Deadlines (see ``gateway.resilience.deadlines``): the connect timeout is the session's;
``post(..., first_byte_timeout_s=...)`` bounds the wait for the response headers (a timeout
there is ``UpstreamTimeout`` with ``before_headers`` set, which the retry policy may retry);
``read_chunk`` is cancel-safe, so the stream reader can put its own idle and keep-alive timers
around it. Response headers are exposed lower-cased (``Retry-After`` and the rate-limit resets).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import httpx

from gateway.alarm import Alarm
from gateway.errors import UpstreamTimeout, UpstreamUnavailable


class UpstreamResponse(Protocol):
    status: int
    content_type: str | None  # the media type, lower-case, without parameters (None when absent)

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, names lower-cased."""
        ...

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read_chunk(self) -> bytes:
        """The next body bytes (``b""`` at the end); cancelling the call loses nothing."""
        ...

    async def close(self) -> None: ...


class UpstreamClient(Protocol):
    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def first_byte_timeout(seconds: float | None) -> UpstreamTimeout:
    """No response headers in time: a timeout the retry policy may retry (``before_headers``)."""
    err = UpstreamTimeout(f"the provider sent no response headers within {seconds:g} s")
    err.before_headers = True
    return err


class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.content_type = resp.content_type if "content-type" in resp.headers else None
        self._headers: Mapping[str, str] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        # Built on first use: the healthy path never reads the provider's headers.
        if self._headers is None:
            self._headers = _lower(self._resp.headers)
        return self._headers

    async def read_chunk(self) -> bytes:
        # StreamReader.readany is cancel-safe: a cancelled wait leaves buffered data in place.
        try:
            return await self._resp.content.readany()
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("the provider connection broke mid-stream") from exc

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

    def __init__(self, *, timeout_s: float | None, connect_timeout_s: float) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
            # An idle timeout (no byte for timeout_s), not a total one: long streams are fine
            # as long as they keep flowing. None when the caller keeps its own read deadlines.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=timeout_s),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        try:
            if first_byte_timeout_s is None:
                resp = await self._session.post(url, data=body, headers=headers)
            else:
                alarm = Alarm.at(asyncio.get_running_loop().time() + first_byte_timeout_s)
                try:
                    resp = await self._session.post(url, data=body, headers=headers)
                except asyncio.CancelledError:
                    if alarm.expired():
                        raise first_byte_timeout(first_byte_timeout_s) from None
                    raise
                finally:
                    alarm.cancel()
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
        self.headers: Mapping[str, str] = _lower(resp.headers)
        self._raw: AsyncIterator[bytes] | None = None
        self._pending: asyncio.Future[bytes] | None = None

    async def _next_raw(self) -> bytes:
        if self._raw is None:
            self._raw = self._resp.aiter_raw()
        try:
            return await anext(self._raw)
        except StopAsyncIteration:
            return b""
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider stopped sending mid-stream") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the provider connection broke mid-stream") from exc

    async def read_chunk(self) -> bytes:
        # httpx's iterator dies when cancelled, so the read runs as a task the caller's
        # timeout only stops waiting for (shield); the next call picks the same task up.
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._next_raw())
        chunk = await asyncio.shield(self._pending)
        self._pending = None
        return chunk

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
        if self._pending is not None:
            self._pending.cancel()
        await self._resp.aclose()


class HttpxUpstream:
    """An httpx client behind the same seam (respx-patchable in tests)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        request = self._client.build_request("POST", url, headers=dict(headers), content=body)
        try:
            if first_byte_timeout_s is None:
                resp = await self._client.send(request, stream=True)
            else:
                try:
                    async with asyncio.timeout(first_byte_timeout_s):
                        resp = await self._client.send(request, stream=True)
                except TimeoutError as exc:
                    raise first_byte_timeout(first_byte_timeout_s) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the provider is unreachable") from exc
        return _HttpxResponse(resp)

    async def close(self) -> None:
        await self._client.aclose()
