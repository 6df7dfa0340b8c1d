"""Cross-process cache invalidation over PostgreSQL LISTEN/NOTIFY.

Any process that changes keys, tiers, budgets or router configurations sends
``NOTIFY gateway_cache, '<what>'``; every process listening drops the matching cache.
If the listening connection breaks it reconnects and reports ``reconnect``: a
notification may have been missed meanwhile, so caches are marked stale (revalidated on
next use) rather than dropped, which keeps callers served through a database outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "gateway_cache"


async def listen(url: str, on_message: Callable[[str], None], *, retry_s: float = 2.0) -> None:
    """Run until cancelled: call ``on_message(payload)`` for each notification."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                on_message("reconnect")
                async for note in conn.notifies():
                    on_message(note.payload)
        except (psycopg.Error, OSError) as exc:
            log.info("cache invalidation listener reconnecting: %s", exc)
            on_message("reconnect")
            await asyncio.sleep(retry_s)
