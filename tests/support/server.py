"""The real gateway (uvicorn + the app factory) on loopback, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import uvicorn
from litestar import Litestar

from gateway.http.protocol import guarded_protocol
from gateway.services import Services
from gateway.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayServer:
    def __init__(self, app: Litestar, settings: Settings | None = None) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            loop="asyncio",
            # The protocol `gateway serve` runs, so every end-to-end test goes through its limits.
            http=guarded_protocol(settings or Settings()),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._server.started:
                try:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        """Run a coroutine on the server's event loop (e.g. to flush the write queue)."""
        return asyncio.run_coroutine_threadsafe(coro, self.services.loop).result(timeout)

    def flush(self) -> None:
        """Wait until every record queued so far is written (or spooled)."""
        self.run(self.services.queue.wait_idle())
