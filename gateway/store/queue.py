"""One bounded in-process queue for every write the request path produces.

``put`` never blocks and never drops: when the queue is full the record goes straight to
the disk spool. A single flusher task takes up to ``batch_max`` records at a time, one
batch per flush interval under load (``flush_soon`` asks for one now), and lands them in one
transaction. If the database is unreachable the batch is written to the
spool (one JSON-lines file per batch, fsync'ed) and replayed, oldest first, once the
database answers again. ``drain`` (at shutdown) flushes what is queued, or spools it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.metrics import Metrics
from gateway.store.records import Record
from gateway.store.writer import BatchHook, write_batch

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Record] = msgspec.json.Decoder(Record)


class Spool:
    """Batches that could not be written yet, as files on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, batch: Sequence[Record]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        tmp = self.directory / (name + ".tmp")
        with tmp.open("wb") as f:
            for r in batch:
                f.write(_encoder.encode(r) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        final = self.directory / name
        tmp.rename(final)
        return final

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    @staticmethod
    def read(path: Path) -> list[Record]:
        return [_decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


class WriteQueue:
    """Bounded queue + batch flusher + spool. Owned by the app's lifespan."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        spool_dir: Path,
        metrics: Metrics,
        *,
        max_items: int = 50_000,
        batch_max: int = 500,
        flush_interval_s: float = 0.05,
        replay_interval_s: float = 2.0,
        pool_timeout_s: float = 5.0,
        hooks: Sequence[BatchHook] = (),
    ) -> None:
        self._pool = pool
        self._spool = Spool(spool_dir)
        self._metrics = metrics
        self._items: deque[Record] = deque()
        self._max = max_items
        self._batch_max = batch_max
        self._interval = flush_interval_s
        self._replay_interval = replay_interval_s
        self._pool_timeout = pool_timeout_s
        self._hooks = list(hooks)
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # Read at scrape time: the request path does not pay a gauge update per record.
        metrics.queue_depth.set_function(self._items.__len__)
        self._stopping = False
        self._last_replay = 0.0
        self._write_failed = False  # the last batch was spooled: the database is away

    @property
    def spool(self) -> Spool:
        return self._spool

    def add_hook(self, hook: BatchHook) -> None:
        self._hooks.append(hook)

    def put(self, record: Record) -> None:
        if len(self._items) >= self._max:
            # Full: never drop, never block the request path; the spool takes it.
            self._spool.write([record])
            self._metrics.spooled_records.inc()
            return
        self._items.append(record)
        self._idle.clear()
        if len(self._items) >= self._batch_max:
            self._wakeup.set()

    def flush_soon(self) -> None:
        """Write what is queued now rather than at the next tick (e.g. rows whose landing frees
        budget a lease is short of)."""
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._items)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="write-queue")

    async def wait_idle(self) -> None:
        """Wait until everything put so far has been written or spooled (tests, shutdown)."""
        self._wakeup.set()
        await self._idle.wait()

    async def drain(self) -> None:
        """Stop the flusher after writing (or spooling) everything queued."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._items:
            await self._flush_once()

    async def _run(self) -> None:
        while not self._stopping:
            woken = True
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._interval)
            except TimeoutError:
                woken = False
            self._wakeup.clear()
            # One batch per interval: what arrives while a batch is being written waits for
            # the next tick, so under load a batch holds an interval's records, not the few
            # of one round trip (each batch costs its statements and a commit). A wake-up (a
            # full queue, ``wait_idle``) writes what was queued when it came; a full batch
            # still waiting is written at once.
            due = len(self._items) if woken else 1
            while self._items and (due > 0 or len(self._items) >= self._batch_max):
                due -= await self._flush_once()
            if not self._items:
                self._idle.set()
            # Replay once the database answers again: after a batch landed, or, with nothing
            # live to write, as the probe. (While live batches are still being spooled, a
            # replay would only wait out the pool timeout once more.)
            now = time.monotonic()
            if (not self._write_failed or not self._items) and now - self._last_replay >= self._replay_interval:
                self._last_replay = now
                await self.replay_spool(max_files=20)

    def _take(self) -> list[Record]:
        n = min(len(self._items), self._batch_max)
        return [self._items.popleft() for _ in range(n)]

    async def _flush_once(self) -> int:
        """Write (or spool) one batch; how many records it took."""
        batch = self._take()
        if not batch:
            return 0
        started = time.perf_counter()
        try:
            await self._write(batch)
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
            # A record the database will never accept (e.g. its user was deleted meanwhile):
            # write the others one by one and keep the rejected ones aside, not in the replay loop.
            log.error("write batch rejected (%s); retrying record by record", exc)
            await self._write_one_by_one(batch)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            # Database unreachable or the batch failed: keep every record on disk.
            path = self._spool.write(batch)
            self._metrics.spooled_records.inc(len(batch))
            log.warning("write batch of %d spooled to %s: %s", len(batch), path, exc)
            self._write_failed = True
        else:
            self._write_failed = False
            self._metrics.flush_seconds.observe(time.perf_counter() - started)
            self._metrics.written_records.inc(len(batch))
        return len(batch)

    async def _write_one_by_one(self, batch: Sequence[Record]) -> None:
        rejected: list[Record] = []
        for record in batch:
            try:
                await self._write([record])
            except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
                rejected.append(record)
            except (psycopg.Error, OSError, TimeoutError):
                self._spool.write([record])
                self._metrics.spooled_records.inc()
        if rejected:
            path = Spool(self._spool.directory / "rejected").write(rejected)
            self._metrics.rejected_records.inc(len(rejected))
            log.error("%d records rejected by the database kept in %s", len(rejected), path)

    async def _write(self, batch: Sequence[Record], attempts: int = 3) -> None:
        """One transaction; retried when PostgreSQL aborts it to break a deadlock (several
        processes update the same rollup/budget rows), which is transient, not a failure."""
        for attempt in range(attempts):
            try:
                async with self._pool.connection(timeout=self._pool_timeout) as conn, conn.transaction():
                    await write_batch(conn, batch, self._hooks)
                return
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))

    async def replay_spool(self, max_files: int | None = None) -> int:
        """Write spooled batches, oldest first; stop at the first failure. Returns files replayed.

        ``max_files`` bounds one pass, so a large backlog never starves the live queue.
        """
        done = 0
        for path in self._spool.files()[:max_files]:
            try:
                batch = Spool.read(path)
            except (msgspec.DecodeError, OSError) as exc:
                log.error("unreadable spool file %s kept for inspection: %s", path, exc)
                path.rename(path.with_suffix(".bad"))
                continue
            try:
                await self._write(batch)
            except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
                await self._write_one_by_one(batch)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.info("spool replay deferred (%s)", exc)
                break
            path.unlink()
            done += 1
            self._metrics.replayed_records.inc(len(batch))
        return done
