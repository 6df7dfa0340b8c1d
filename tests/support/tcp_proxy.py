"""A loopback TCP proxy a test can cut: a database outage without stopping the shared server.

``cut()`` closes every relayed connection and refuses new ones (accepted, then closed at
once, as a stopped server's port would answer); ``restore()`` relays again. It runs its own
event loop in a thread, so the test and the servers under test need no changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    """Relays ``127.0.0.1:<port>`` to ``target_host:target_port`` until cut.

    A ``target_host`` that is a directory (libpq's spelling of a Unix socket, as the embedded
    PostgreSQL listens) is reached at ``<dir>/.s.PGSQL.<port>``.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self.port = 0

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            host, port = self._target
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= pair
            for w in pair:
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    def _run(self, fn: object) -> None:
        async def call() -> None:
            fn()  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def cut(self) -> None:
        """The database goes away: every connection drops, new ones are refused."""

        def do() -> None:
            self._cut = True
            for w in list(self._writers):
                w.transport.abort()

        self._run(do)

    def restore(self) -> None:
        def do() -> None:
            self._cut = False

        self._run(do)

    def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
