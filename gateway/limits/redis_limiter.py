"""The Redis rate limiter: limits shared by every process and replica (``REDIS_URL``).

One Lua script checks every scope of a request (key, user, organization) and, only if all
pass, counts the request and takes a concurrency slot: one round trip, atomic, so N
replicas together admit what one would. Checks that arrive while a round trip is in flight
are sent together in the next one (one pipeline of script calls): a check waits for at most
the round trip in flight and its own, and under load the client's per-command cost is
shared. Settlement (tokens used, slot freed) is queued and sent as one script call per flush
interval by ``RateLimitGuard``, off the request path.

Keys (all under the configured prefix): ``<p>r:<scope>:<minute>`` and ``<p>t:<scope>:<minute>``
(request and token counts per minute, expire after two minutes) and ``<p>c:<scope>`` (a
sorted set of in-flight request ids scored by expiry, so a crashed process's slots lapse).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from gateway.limits.windows import WINDOW_MS, ScopeLimits, Verdict

# KEYS: 5 per scope (requests now, requests previous minute, tokens now, tokens previous,
# in-flight set). ARGV: now_ms, elapsed_ms, ttl_ms, request_id, then rpm, tpm, parallel per scope.
_SCRIPT = """
local now = tonumber(ARGV[1])
local elapsed = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local rid = ARGV[4]
local window = 60000
local n = #KEYS / 5
local function weighted(prev, cur) return prev * (1 - elapsed / window) + cur end
local function wait(prev, cur, room)
  if weighted(prev, cur) <= room then return 0 end
  if cur <= room and prev > 0 then
    return math.max(1, math.ceil((1 - (room - cur) / prev) * window - elapsed))
  end
  local g = 0
  if cur > 0 then g = 1 - room / cur end
  return math.max(1, math.ceil((window - elapsed) + g * window))
end
local best_r = {-1, -1, 0}
local best_t = {-1, -1, 0}
for i = 0, n - 1 do
  local k = i * 5
  local rpm = tonumber(ARGV[5 + i * 3])
  local tpm = tonumber(ARGV[6 + i * 3])
  local par = tonumber(ARGV[7 + i * 3])
  if rpm > 0 then
    local cur = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    local prev = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    local count = weighted(prev, cur)
    if count + 1 > rpm then return {0, i, 1, wait(prev, cur, rpm - 1), 0, 0, 0, 0, 0, 0} end
    local remaining = math.floor(rpm - count - 1)
    if best_r[1] < 0 or remaining < best_r[1] then best_r = {remaining, rpm, window - elapsed} end
  end
  if tpm > 0 then
    local cur = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    local prev = tonumber(redis.call('GET', KEYS[k + 4]) or '0')
    local used = weighted(prev, cur)
    if used >= tpm then return {0, i, 2, wait(prev, cur, tpm - 1), 0, 0, 0, 0, 0, 0} end
    local remaining = math.floor(tpm - used)
    if best_t[1] < 0 or remaining < best_t[1] then best_t = {remaining, tpm, window - elapsed} end
  end
  if par > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 5], '-inf', now)
    if redis.call('ZCARD', KEYS[k + 5]) >= par then return {0, i, 3, 1000, 0, 0, 0, 0, 0, 0} end
  end
end
for i = 0, n - 1 do
  local k = i * 5
  if tonumber(ARGV[5 + i * 3]) > 0 then
    redis.call('INCR', KEYS[k + 1])
    redis.call('PEXPIRE', KEYS[k + 1], 2 * window)
  end
  if tonumber(ARGV[7 + i * 3]) > 0 then
    redis.call('ZADD', KEYS[k + 5], now + ttl, rid)
    redis.call('PEXPIRE', KEYS[k + 5], ttl + window)
  end
end
return {1, -1, 0, 0, best_r[2], best_r[1], best_r[3], best_t[2], best_t[1], best_t[3]}
"""

# Settlement of many calls in one script call. KEYS: one per operation. ARGV: the token
# keys' expiry (ms), then per operation a kind ("z": remove the member ARGV from the
# in-flight set at KEYS[i]; "t": add ARGV tokens to the count at KEYS[i]) and its value.
_SETTLE = """
local expiry = tonumber(ARGV[1])
for i = 1, #KEYS do
  local kind = ARGV[i * 2]
  local value = ARGV[i * 2 + 1]
  if kind == 'z' then
    redis.call('ZREM', KEYS[i], value)
  else
    redis.call('INCRBY', KEYS[i], value)
    redis.call('PEXPIRE', KEYS[i], expiry)
  end
end
return #KEYS
"""

_KINDS = {1: "requests", 2: "tokens", 3: "parallel"}


def _bulk(value: str | int | bytes) -> bytes:
    data = value if isinstance(value, bytes) else (value.encode() if isinstance(value, str) else b"%d" % value)
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _pack(command: bytes, sha: bytes, numkeys: int, keys: list[str], args: list[Any]) -> bytes:
    """One ``EVALSHA sha numkeys keys... args...`` in RESP (arguments are str or int)."""
    head = b"*%d\r\n" % (3 + len(keys) + len(args))
    return b"".join((head, _bulk(command), _bulk(sha), _bulk(numkeys), *map(_bulk, keys), *map(_bulk, args)))


class RedisLimiter:
    """Rate limits in Redis, checked by one atomic script per request."""

    def __init__(self, client: aioredis.Redis, prefix: str = "gw:") -> None:
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)
        self._settle = client.register_script(_SETTLE)
        self._queued: list[tuple[list[str], list[Any], asyncio.Future[list[Any]]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def _call(self, keys: list[str], args: list[Any]) -> list[Any]:
        """Run the script once for this check, batched with whatever else is waiting."""
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queued.append((keys, args, fut))
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send())
        return await fut

    async def _send(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    results = await self._round_trip(batch)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller, which decides
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._sender = None

    async def _round_trip(self, batch: Sequence[tuple[list[str], list[Any], Any]]) -> list[Any]:
        """The batch's script calls, packed here and sent on one connection in one write.

        redis-py's generic command packing cost most of a check's client CPU (an isinstance
        chain and an encode per argument); these arguments are only ``str`` and ``int``, so
        the RESP frame is built directly (the replies are still read by redis-py's parser).
        """
        for attempt in range(2):
            sha = self._script.sha.encode()
            frames = [_pack(b"EVALSHA", sha, len(keys), keys, args) for keys, args, _ in batch]
            results = await self._exchange(frames)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in results):
                await self._redis.script_load(_SCRIPT)  # e.g. Redis restarted: load it, then retry once
                continue
            return results
        return results

    async def _exchange(self, frames: list[bytes]) -> list[Any]:
        """Write ``frames`` at once, read one reply each (an error reply is returned, not raised)."""
        pool = self._redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(b"".join(frames), check_health=False)
            replies: list[Any] = []
            for _ in frames:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies
        finally:
            await pool.release(conn)

    @classmethod
    def from_url(cls, url: str, prefix: str = "gw:", timeout_s: float = 1.0, max_connections: int = 32) -> RedisLimiter:
        # A bounded pool: a burst waits for a connection instead of opening hundreds at once.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        return cls(aioredis.Redis(connection_pool=pool), prefix)

    def _keys(self, scope: str, minute: int) -> list[str]:
        p = self._prefix
        return [
            f"{p}r:{scope}:{minute}",
            f"{p}r:{scope}:{minute - 1}",
            f"{p}t:{scope}:{minute}",
            f"{p}t:{scope}:{minute - 1}",
            f"{p}c:{scope}",
        ]

    async def check(self, scopes: Sequence[ScopeLimits], request_id: str, now_ms: int, ttl_ms: int) -> Verdict:
        minute = now_ms // WINDOW_MS
        keys: list[str] = []
        args: list[Any] = [now_ms, now_ms % WINDOW_MS, ttl_ms, request_id]
        for s in scopes:
            keys.extend(self._keys(s.scope, minute))
            args.extend((s.rpm, s.tpm, s.parallel))
        r = [int(v) for v in await self._call(keys, args)]
        if not r[0]:
            return Verdict(False, scopes[r[1]].scope, _KINDS[r[2]], r[3])
        return Verdict(True, limit_requests=r[4], remaining_requests=r[5], reset_requests_ms=r[6],
                       limit_tokens=r[7], remaining_tokens=r[8], reset_tokens_ms=r[9])  # fmt: skip

    async def release_many(self, items: Sequence[tuple[Sequence[ScopeLimits], str, int, int]]) -> None:
        """Settle many requests in one script call: (scopes, request id, tokens, now_ms) each.

        One command for the whole flush (the client's cost is per command and per argument;
        a pipeline of ZREM/INCRBY/PEXPIRE per scope cost more than the check itself).
        """
        keys: list[str] = []
        args: list[Any] = [2 * WINDOW_MS]
        p = self._prefix
        for scopes, request_id, tokens, now_ms in items:
            minute = now_ms // WINDOW_MS
            for s in scopes:
                if s.parallel:
                    keys.append(f"{p}c:{s.scope}")
                    args += ("z", request_id)
                if s.tpm and tokens:
                    keys.append(f"{p}t:{s.scope}:{minute}")
                    args += ("t", tokens)
        if keys:
            await self._settle(keys=keys, args=args)

    async def release(self, scopes: Sequence[ScopeLimits], request_id: str, tokens: int, now_ms: int) -> None:
        await self.release_many([(scopes, request_id, tokens, now_ms)])

    async def incr_expiring(self, key: str, ttl_ms: int) -> int:
        """Count one event under ``key`` (expiring after ``ttl_ms``); the new count."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._prefix + key)
        pipe.pexpire(self._prefix + key, ttl_ms, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._redis.aclose(close_connection_pool=True)
