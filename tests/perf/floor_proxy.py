"""The floor: the least a Python pass-through proxy can do, in raw aiohttp.

Run as ``python -m tests.perf.floor_proxy --port P --upstream http://127.0.0.1:M``.

One aiohttp server and one shared ``ClientSession``: read the request body, POST it to
the same path on the upstream, and relay the answer, streaming chunk by chunk as they
arrive when the upstream does not give a length (SSE). No auth, no parsing, no logging:
whatever the gateway costs beyond this is the gateway's own work, which is why every
gateway figure is reported as a ratio to this one.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from tests.perf.mock_upstream import run_event_loop

_SESSION_KEY: web.AppKey[ClientSession] = web.AppKey("session", ClientSession)
_UPSTREAM_KEY: web.AppKey[str] = web.AppKey("upstream", str)
_FORWARDED = ("Content-Type", "Authorization", "x-api-key", "anthropic-version")


async def _relay(request: web.Request) -> web.StreamResponse:
    """Forward one request and relay the upstream's status, type and body."""
    session = request.app[_SESSION_KEY]
    body = await request.read()
    headers = {h: request.headers[h] for h in _FORWARDED if h in request.headers}
    url = request.app[_UPSTREAM_KEY] + request.rel_url.path_qs
    async with session.post(url, data=body, headers=headers) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        if upstream.content_length is not None:
            return web.Response(
                status=upstream.status, body=await upstream.read(), headers={"Content-Type": content_type}
            )
        response = web.StreamResponse(status=upstream.status, headers={"Content-Type": content_type})
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def serve(host: str, port: int, upstream: str) -> None:
    """Serve until SIGTERM or SIGINT, then close the shared client session."""
    app = web.Application()
    # limit=0: no pool cap, as a tuned proxy would run; the floor must not queue on its own pool.
    connector = TCPConnector(limit=0, ttl_dns_cache=None)
    session = ClientSession(connector=connector, timeout=ClientTimeout(total=None, sock_connect=5))
    app[_SESSION_KEY] = session
    app[_UPSTREAM_KEY] = upstream.rstrip("/")
    app.router.add_get("/healthz", _health)
    app.router.add_post("/{tail:.*}", _relay)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"floor proxy listening on http://{host}:{port} -> {upstream}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await session.close()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="raw aiohttp pass-through proxy (the benchmark floor)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL; the request path is appended as-is")
    args = parser.parse_args()
    run_event_loop(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
