"""Real ``gateway serve`` processes on one PostgreSQL (and one Redis), against the mock provider."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.perf.procs import ChildFailed, Children, free_port, wait_http_ok
from tests.support.mock_upstream import MockUpstream

REDIS_URL = "redis://127.0.0.1:6379/5"


@contextmanager
def gateways(
    n: int, db_url: str, mock: MockUpstream, tmp: Path, *, redis: bool = False, **env: str
) -> Iterator[list[str]]:
    """Start ``n`` gateway processes; yield their base URLs; stop them (gracefully) at the end."""
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    with Children(tmp / "logs") as children:
        urls: list[str] = []
        started = []
        taken: set[int] = set()

        def fresh_port() -> int:
            # free_port closes its socket: the OS may hand the same port out again, to the next
            # call here or to anyone else before the child binds it.
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            return port

        commands = []
        for i in range(n):
            port = fresh_port()
            child_env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "ANTHROPIC_API_KEY": "test-anthropic-key",
                "ANTHROPIC_BASE_URL": mock.anthropic_base,
                "OPENAI_API_KEY": "test-openai-key",
                "OPENAI_BASE_URL": mock.openai_base,
                "GATEWAY_SIMULATOR": "off",
                "GATEWAY_DATA_DIR": str(tmp / f"gw{i}"),
                "GATEWAY_AUTH_FAILURES_PER_MIN": "0",
                "GATEWAY_LOG_LEVEL": "WARNING",
                **({"REDIS_URL": REDIS_URL, "GATEWAY_REDIS_PREFIX": prefix} if redis else {}),
                **env,
            }
            cmd = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
            commands.append((cmd, child_env))
            started.append((children.start(f"gw{i}", cmd, cores=None, env=child_env), port))
        for i, (child, port) in enumerate(started):
            for attempt in range(3):
                try:
                    wait_http_ok(child, "127.0.0.1", port, "/healthz", 60)
                    break
                except ChildFailed as exc:
                    if "address already in use" not in str(exc) or attempt == 2:
                        raise
                    port = fresh_port()  # someone took the port first: serve on another one
                    cmd, child_env = commands[i]
                    cmd = [*cmd[:-1], str(port)]
                    child = children.start(f"gw{i}-{attempt + 1}", cmd, cores=None, env=child_env)
            urls.append(f"http://127.0.0.1:{port}")
        yield urls


async def burst(urls: list[str], key: str, n: int, *, max_tokens: int = 600) -> list[int]:
    """``n`` concurrent Anthropic requests spread over the gateways; their statuses."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(i: int) -> int:
            resp = await client.post(
                urls[i % len(urls)] + "/v1/messages",
                headers={"x-api-key": key},
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": f"request {i}"}],
                },
            )
            return resp.status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))
