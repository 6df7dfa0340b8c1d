"""The Redis rate limiter: limits shared by every process and replica (``REDIS_URL``).

One Lua script checks every scope of a request (key, user, organization) and, only if all
pass, counts the request and takes a concurrency slot: one round trip, atomic, so N
replicas together admit what one would. Checks are pipelined on one connection (see
``redis_pipe``): a check waits for its own round trip only, and those of one loop tick go
out in one write. Settlement (tokens used, slot freed) is queued and sent as one script call per flush
interval by ``RateLimitGuard``, off the request path.

Keys (all under the configured prefix): ``<p>r:<scope>:<minute>`` and ``<p>t:<scope>:<minute>``
(request and token counts per minute, expire after two minutes) and ``<p>c:<scope>`` (a
sorted set of in-flight request ids scored by expiry, so a crashed process's slots lapse).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from hashlib import sha1
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from gateway.limits.redis_pipe import RedisPipe, bulk, command
from gateway.limits.windows import WINDOW_MS, ScopeLimits, Verdict, wait_ms

# KEYS: 5 per scope (requests now, requests previous minute, tokens now, tokens previous,
# in-flight set). ARGV: now_ms, elapsed_ms, ttl_ms, request_id, then rpm, tpm, parallel per scope.
# Redis's cost is per call a script makes (about 1 us each, besides the command) and per Lua
# step, and one Redis serves every replica, so the script does only what must be atomic:
# - one MGET reads every counter (an in-flight set's key, not a string, reads as nil);
# - a counter gets its expiry once, from the call that created it (INCR returned 1);
# - an in-flight set gets its expiry when it is created (it was empty) and again with the
#   first request of each minute (the minute's counter was created), else on every request
#   (a scope with a concurrency limit and no requests/min limit);
# - lapsed slots (of a crashed process) are dropped only when a set looks full: until then
#   they cannot refuse anything, and a set holds at most its limit plus what is in flight;
# - the arithmetic that only describes the answer (remaining counts, when to retry) is the
#   client's (``windows``): a refusal returns the two counts it weighed, not a wait.
# Admitted: {1, rpm, requests remaining, tpm, tokens remaining} of the tightest scopes (-1: no
# such limit). Refused: {0, scope index, kind (1 requests, 2 tokens, 3 concurrency), previous
# minute's count, this minute's}.
_SCRIPT = """
local elapsed = tonumber(ARGV[2])
local keep = 1 - elapsed / 60000
local n = #KEYS / 5
local v = redis.call('MGET', unpack(KEYS))
local lr, rr, lt, rt = -1, -1, -1, -1
local busy = {}
for i = 0, n - 1 do
  local k, a = i * 5, 5 + i * 3
  local rpm = tonumber(ARGV[a])
  if rpm > 0 then
    local prev, cur = tonumber(v[k + 2]) or 0, tonumber(v[k + 1]) or 0
    local count = prev * keep + cur
    if count + 1 > rpm then return {0, i, 1, prev, cur} end
    local remaining = math.floor(rpm - count - 1)
    if rr < 0 or remaining < rr then lr, rr = rpm, remaining end
  end
  local tpm = tonumber(ARGV[a + 1])
  if tpm > 0 then
    local prev, cur = tonumber(v[k + 4]) or 0, tonumber(v[k + 3]) or 0
    local used = prev * keep + cur
    if used >= tpm then return {0, i, 2, prev, cur} end
    local remaining = math.floor(tpm - used)
    if rt < 0 or remaining < rt then lt, rt = tpm, remaining end
  end
  local par = tonumber(ARGV[a + 2])
  if par > 0 then
    local held = redis.call('ZCARD', KEYS[k + 5])
    if held >= par then
      redis.call('ZREMRANGEBYSCORE', KEYS[k + 5], '-inf', ARGV[1])
      held = redis.call('ZCARD', KEYS[k + 5])
      if held >= par then return {0, i, 3, 0, 0} end
    end
    busy[i] = held
  end
end
local ttl = tonumber(ARGV[3])
for i = 0, n - 1 do
  local k, a = i * 5, 5 + i * 3
  local fresh = true  -- a new minute for this scope's counter, or no counter to tell
  if ARGV[a] ~= '0' then
    fresh = redis.call('INCR', KEYS[k + 1]) == 1
    if fresh then redis.call('PEXPIRE', KEYS[k + 1], 120000) end
  end
  local held = busy[i]
  if held then
    redis.call('ZADD', KEYS[k + 5], tonumber(ARGV[1]) + ttl, ARGV[4])
    if fresh or held == 0 then redis.call('PEXPIRE', KEYS[k + 5], ttl + 60000) end
  end
end
return {1, lr, rr, lt, rt}
"""

# Settlement of a whole flush in one script call, aggregated by key: each in-flight set once
# with every member to remove, each token count once with the sum to add. KEYS: the sets,
# then the token counts. ARGV: the token counts' expiry (ms), the number of sets, then per
# set its member count and members, then per token count what to add. A token count gets its
# expiry from the call that created it (the count equals what it added).
_SETTLE = """
local expiry = tonumber(ARGV[1])
local sets = tonumber(ARGV[2])
local a = 3
for i = 1, sets do
  local m = tonumber(ARGV[a])
  local first = a + 1
  while first <= a + m do
    local last = math.min(first + 499, a + m)
    redis.call('ZREM', KEYS[i], unpack(ARGV, first, last))
    first = last + 1
  end
  a = a + m + 1
end
for i = sets + 1, #KEYS do
  local n = ARGV[a]
  a = a + 1
  if redis.call('INCRBY', KEYS[i], n) == tonumber(n) then redis.call('PEXPIRE', KEYS[i], expiry) end
end
return #KEYS
"""

# Quota leases (``gateway.limits.leases``): one call takes, for each scope of a request, a
# slice of its minute's requests (counted at once) and of its concurrency slots (members
# ``<lease>#<n>`` scored by their expiry), and reads the tokens it has used. KEYS: the same 5
# per scope as the check. ARGV: now_ms, elapsed_ms, the slots' score (their expiry), the member
# prefix, the divisor of spare room, the first member number; then per scope rpm, tpm,
# parallel, requests needed, requests wanted besides, slots needed, slots wanted besides.
# What is needed (the requests waiting in the process) is granted up to the room left, like
# that many per-request checks; what is wanted besides (the process's recent rate) only while
# the scope is far from its limit (three quarters of it spare), at most a 1/divisor share of
# the spare room, so near the limit a lease is exactly the requests waiting. Refused: as the
# check. Granted: {1, then per scope: requests granted, room left after them (rpm minus the
# weighted count; -1 without a limit), tokens used (-1 without a limit), slots granted}.
_LEASE = """
local now = tonumber(ARGV[1])
local keep = 1 - tonumber(ARGV[2]) / 60000
local divisor = tonumber(ARGV[5])
local n = #KEYS / 5
local v = redis.call('MGET', unpack(KEYS))
local out = {1}
local gr, gc = {}, {}
for i = 0, n - 1 do
  local k, a = i * 5, 7 + i * 7
  local rpm, tpm, par = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local g, room, used, c = 0, -1, -1, 0
  if rpm > 0 then
    local prev, cur = tonumber(v[k + 2]) or 0, tonumber(v[k + 1]) or 0
    room = rpm - (prev * keep + cur)
    local need = tonumber(ARGV[a + 3])
    if need > 0 then
      if room < 1 then return {0, i, 1, prev, cur} end
      g = math.min(need, math.floor(room))
      local spare = room - g
      if spare * 4 >= rpm * 3 then g = g + math.min(tonumber(ARGV[a + 4]), math.floor(spare / divisor)) end
    end
  end
  if tpm > 0 then
    local prev, cur = tonumber(v[k + 4]) or 0, tonumber(v[k + 3]) or 0
    used = prev * keep + cur
    if used >= tpm then return {0, i, 2, prev, cur} end
  end
  local need = tonumber(ARGV[a + 5])
  if par > 0 and need > 0 then
    local held = redis.call('ZCARD', KEYS[k + 5])
    if held + need > par then
      redis.call('ZREMRANGEBYSCORE', KEYS[k + 5], '-inf', ARGV[1])
      held = redis.call('ZCARD', KEYS[k + 5])
      if held >= par then return {0, i, 3, 0, 0} end
    end
    c = math.min(need, par - held)
    local spare = par - held - c
    if spare * 4 >= par * 3 then c = c + math.min(tonumber(ARGV[a + 6]), math.floor(spare / divisor)) end
  end
  gr[i], gc[i] = g, c
  out[#out + 1] = g
  out[#out + 1] = math.floor(room - g)
  out[#out + 1] = math.floor(used)
  out[#out + 1] = c
end
local score, seq = ARGV[3], tonumber(ARGV[6])
for i = 0, n - 1 do
  local k = i * 5
  if gr[i] > 0 and redis.call('INCRBY', KEYS[k + 1], gr[i]) == gr[i] then
    redis.call('PEXPIRE', KEYS[k + 1], 120000)
  end
  if gc[i] > 0 then
    local z = {}
    for j = 1, gc[i] do
      z[#z + 1] = score
      z[#z + 1] = ARGV[4] .. '#' .. string.format('%d', seq)
      seq = seq + 1
    end
    redis.call('ZADD', KEYS[k + 5], unpack(z))
    redis.call('PEXPIRE', KEYS[k + 5], tonumber(score) - now + 60000)
  end
end
return out
"""

_KINDS = {1: "requests", 2: "tokens", 3: "parallel"}
_LOAD_SCRIPT = command(b"SCRIPT", b"LOAD", _SCRIPT.encode())
_LOAD_SETTLE = command(b"SCRIPT", b"LOAD", _SETTLE.encode())
_LOAD_LEASE = command(b"SCRIPT", b"LOAD", _LEASE.encode())
_SETTLE_EXPIRY = bulk(b"%d" % (2 * WINDOW_MS))  # the token counts' expiry (ms)
_CACHE_MAX = 4096  # packed frame parts kept per limiter (scope sets of the current minute, settle keys)


def refusal(scopes: Sequence[ScopeLimits], r: Sequence[int], now_ms: int) -> Verdict:
    """The verdict of a script's refusal ``{0, scope index, kind, previous count, current}``."""
    scope, kind = scopes[r[1]], r[2]
    if kind == 3:
        return Verdict(False, scope.scope, "parallel", 1000)
    room = (scope.rpm if kind == 1 else scope.tpm) - 1
    return Verdict(False, scope.scope, _KINDS[kind], wait_ms(r[3], r[4], now_ms % WINDOW_MS, room))


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class RedisLimiter:
    """Rate limits in Redis, checked by one atomic script per request.

    Checks and settlements go out as prepacked ``EVALSHA`` frames on one pipelined connection
    (``RedisPipe``); the parts of a check's frame that only change with the scope set and the
    minute (the command, the keys, the limits) are packed once per minute and scope set.
    redis-py keeps what is not on the request path: the auth throttle's counter, key scans
    in tests.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "gw:", timeout_s: float = 1.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._pipe = RedisPipe(client.connection_pool, timeout_s)
        self._script_sha = sha1(_SCRIPT.encode()).hexdigest().encode()
        self._settle_sha = sha1(_SETTLE.encode()).hexdigest().encode()
        self._lease_sha = sha1(_LEASE.encode()).hexdigest().encode()
        self._loading: asyncio.Task[None] | None = None
        # id(scopes) -> (scopes, ttl, the check frame's fixed parts), for the minute in _parts_minute.
        self._parts: dict[int, tuple[Sequence[ScopeLimits], int, bytes, bytes, bytes]] = {}
        self._parts_minute = -1
        # id(scopes) -> (scopes, minute, slot set keys, token count keys): settlement's keys.
        self._plans: dict[int, tuple[Sequence[ScopeLimits], int, list[bytes], list[bytes]]] = {}

    @classmethod
    def from_url(cls, url: str, prefix: str = "gw:", timeout_s: float = 1.0, max_connections: int = 32) -> RedisLimiter:
        # redis-py's pool serves only what is off the request path (the auth throttle).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        return cls(aioredis.Redis(connection_pool=pool), prefix, timeout_s)

    async def _load_scripts(self) -> None:
        """Load the scripts (e.g. after a Redis restart); concurrent callers share one load."""
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(_retrieved)  # its error is its awaiters' (if any are left)
        await asyncio.shield(self._loading)

    async def _load(self) -> None:
        # On the pipelined connection, the one just seen to work (redis-py's pooled
        # connections may still be the ones from before a restart).
        loads = await asyncio.gather(
            self._pipe.send(_LOAD_SCRIPT),
            self._pipe.send(_LOAD_SETTLE),
            self._pipe.send(_LOAD_LEASE),
            return_exceptions=True,
        )
        for result in loads:  # (all awaited either way: no error left unretrieved)
            if isinstance(result, BaseException):
                raise result

    async def _eval(self, frame: bytes) -> Any:
        """Send one EVALSHA frame; when Redis does not know the script, load it and retry once."""
        try:
            return await self._pipe.send(frame)
        except NoScriptError:
            await self._load_scripts()
            return await self._pipe.send(frame)

    def key(self, kind: bytes, scope: str, minute: int | None = None) -> bytes:
        """A counter's (``r``, ``t``: per minute) or a slot set's (``c``) key."""
        if minute is None:
            return b"%b%b:%b" % (self._prefix.encode(), kind, scope.encode())
        return b"%b%b:%b:%d" % (self._prefix.encode(), kind, scope.encode(), minute)

    def _scope_keys(self, scope: str, minute: int) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """A scope's five keys, in the scripts' order."""
        return (
            self.key(b"r", scope, minute),
            self.key(b"r", scope, minute - 1),
            self.key(b"t", scope, minute),
            self.key(b"t", scope, minute - 1),
            self.key(b"c", scope),
        )

    def _pack_parts(
        self, scopes: Sequence[ScopeLimits], ttl_ms: int, minute: int
    ) -> tuple[Sequence[ScopeLimits], int, bytes, bytes, bytes]:
        """A check frame's fixed parts: ``*N EVALSHA sha numkeys keys...``, the ttl, the limits."""
        if minute != self._parts_minute or len(self._parts) >= _CACHE_MAX:
            self._parts, self._parts_minute = {}, minute
        keys: list[bytes] = []
        limits: list[bytes] = []
        for s in scopes:
            keys += self._scope_keys(s.scope, minute)
            limits += (b"%d" % s.rpm, b"%d" % s.tpm, b"%d" % s.parallel)
        count = 3 + len(keys) + 4 + len(limits)
        start = (b"*%d\r\n" % count) + b"".join(map(bulk, (b"EVALSHA", self._script_sha, b"%d" % len(keys), *keys)))
        parts = self._parts[id(scopes)] = (scopes, ttl_ms, start, bulk(b"%d" % ttl_ms), b"".join(map(bulk, limits)))
        return parts

    async def check(self, scopes: Sequence[ScopeLimits], request_id: str, now_ms: int, ttl_ms: int) -> Verdict:
        minute = now_ms // WINDOW_MS
        # Found by the scope sequence's identity (the guard keeps one per principal; the entry
        # holds it, so its id is not reused while cached): no tuple to build and hash per check.
        parts = self._parts.get(id(scopes)) if minute == self._parts_minute else None
        if parts is None or parts[0] is not scopes or parts[1] != ttl_ms:
            parts = self._pack_parts(scopes, ttl_ms, minute)
        _, _, start, ttl, limits = parts
        now, elapsed, rid = b"%d" % now_ms, b"%d" % (now_ms % WINDOW_MS), request_id.encode()
        frame = b"%b$%d\r\n%b\r\n$%d\r\n%b\r\n%b$%d\r\n%b\r\n%b" % (
            start, len(now), now, len(elapsed), elapsed, ttl, len(rid), rid, limits
        )  # fmt: skip
        try:  # (not through _eval: one coroutine less on every check's way back)
            r = await self._pipe.send(frame)
        except NoScriptError:
            await self._load_scripts()
            r = await self._pipe.send(frame)
        if r[0]:
            reset = WINDOW_MS - now_ms % WINDOW_MS
            return Verdict(True, "", "", 0, r[1], r[2], reset, r[3], r[4], reset)
        return refusal(scopes, r, now_ms)

    async def take(
        self,
        scopes: Sequence[ScopeLimits],
        now_ms: int,
        slot_expiry_ms: int,
        member: bytes,
        first: int,
        divisor: int,
        wants: Sequence[tuple[int, int, int, int]],
    ) -> list[int]:
        """Take a quota lease for ``scopes`` in one script call (see ``_LEASE``): the reply.

        ``wants``: per scope, requests needed and wanted besides, slots needed and wanted
        besides; slots granted are ``member#first``, ``member#first+1``... in scope order.
        """
        minute = now_ms // WINDOW_MS
        keys: list[bytes] = []
        args = [b"%d" % now_ms, b"%d" % (now_ms % WINDOW_MS), b"%d" % slot_expiry_ms, member, b"%d" % divisor]
        args.append(b"%d" % first)
        for s, want in zip(scopes, wants, strict=True):
            keys += self._scope_keys(s.scope, minute)
            args += (b"%d" % s.rpm, b"%d" % s.tpm, b"%d" % s.parallel, *(b"%d" % w for w in want))
        frame = command(b"EVALSHA", self._lease_sha, b"%d" % len(keys), *keys, *args)
        reply: list[int] = await self._eval(frame)
        return reply

    def _settle_plan(
        self, scopes: Sequence[ScopeLimits], minute: int
    ) -> tuple[Sequence[ScopeLimits], int, list[bytes], list[bytes]]:
        """A scope set's packed settlement keys in ``minute``: its slot sets, its token counts."""
        if len(self._plans) >= _CACHE_MAX:
            self._plans = {}
        p = self._prefix.encode()
        slots = [b"%bc:%b" % (p, s.scope.encode()) for s in scopes if s.parallel]
        counts = [b"%bt:%b:%d" % (p, s.scope.encode(), minute) for s in scopes if s.tpm]
        plan = self._plans[id(scopes)] = (scopes, minute, slots, counts)
        return plan

    async def release_many(self, items: Sequence[tuple[Sequence[ScopeLimits], str, int, int]]) -> None:
        """Settle many requests in one script call: (scopes, request id, tokens, now_ms) each.

        One command for the whole flush, aggregated by key: a slot set's members go in one
        ZREM, a token count's tokens in one INCRBY (the client's cost is per command and per
        argument, and a flush at load holds hundreds of calls of the same few scopes). A scope
        set's keys are packed once a minute, found by the identity of its sequence (the guard
        keeps one per principal; the plan holds it, so its id is not reused while cached).
        """
        members: dict[bytes, list[bytes]] = {}
        tokens: dict[bytes, int] = {}
        plans = self._plans
        for scopes, request_id, n, now_ms in items:
            minute = now_ms // WINDOW_MS
            plan = plans.get(id(scopes))
            if plan is None or plan[0] is not scopes or plan[1] != minute:
                plan = self._settle_plan(scopes, minute)
            _, _, slots, counts = plan
            if slots:
                rid = bulk(request_id.encode())
                for key in slots:
                    got = members.get(key)
                    if got is None:
                        members[key] = [rid]
                    else:
                        got.append(rid)
            if n and counts:
                for key in counts:
                    tokens[key] = tokens.get(key, 0) + n
        await self.settle(members, tokens)

    async def settle(self, members: dict[bytes, list[bytes]], counts: dict[bytes, int]) -> None:
        """One script call: remove ``members`` (bulk strings) from their slot sets, add ``counts``
        (negative: give back) to their counters."""
        if not members and not counts:
            return
        args: list[bytes] = [_SETTLE_EXPIRY, bulk(b"%d" % len(members))]
        for rids in members.values():
            args.append(bulk(b"%d" % len(rids)))
            args += rids
        args += [bulk(b"%d" % n) for n in counts.values()]
        keys = [bulk(k) for k in (*members, *counts)]
        head = b"*%d\r\n$7\r\nEVALSHA\r\n%b%b" % (
            3 + len(keys) + len(args),
            bulk(self._settle_sha),
            bulk(b"%d" % len(keys)),
        )
        await self._eval(b"".join((head, *keys, *args)))

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
        await self._pipe.close()
        await self._redis.aclose(close_connection_pool=True)
