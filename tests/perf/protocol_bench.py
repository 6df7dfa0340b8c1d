"""What the server read limits cost per request: uvicorn's httptools protocol vs the guarded one.

Drives each protocol in process with a fake transport (no sockets, so the figure is the
protocol's own work): one typical proxy request head (ten headers) and a small JSON body
per iteration, answered by a trivial ASGI app, on one keep-alive connection, on uvloop as `gateway serve` runs.

    python -m tests.perf.protocol_bench --requests 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.http.protocol import guarded_protocol
from gateway.settings import Settings

BODY = b'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hello"}]}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway:8080\r\nUser-Agent: OpenAI/Python 2.54.0\r\n"
    b"Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    b"Authorization: Bearer gw_0123456789abcdef0123456789abcdef\r\nContent-Type: application/json\r\n"
    b"X-Stainless-Lang: python\r\nX-Stainless-Retry-Count: 0\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self._closing = False

    def write(self, data: Any) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def _run(factory: Any, requests: int) -> float:
    config = Config(_app, access_log=False, log_level="warning")
    config.load()
    protocol = factory(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    started = time.process_time()  # CPU time: other processes' load does not count
    for _ in range(requests):
        protocol.data_received(REQUEST)
        await asyncio.gather(*protocol.tasks)  # the request's ASGI task (same cost for both)
    elapsed = time.process_time() - started
    assert transport.written > 0 and not transport.is_closing()
    protocol.connection_lost(None)
    return elapsed / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    factories = {"httptools": HttpToolsProtocol, "guarded": guarded_protocol(Settings())}
    results: dict[str, list[float]] = {name: [] for name in factories}
    for _ in range(args.rounds):  # interleaved, so drift in machine load hits both alike
        for name, factory in factories.items():
            results[name].append(uvloop.run(_run(factory, args.requests)))
    for name, values in results.items():
        print(
            f"{name:10s} best {min(values):7.2f}  median {statistics.median(values):7.2f} us/request",
            f"({len(values)} rounds)",
        )
    base, guarded = (min(results[n]) for n in ("httptools", "guarded"))
    print(f"best guarded - best httptools: {guarded - base:+.2f} us/request ({(guarded / base - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
