"""Rate-limit quota leases: most requests are admitted without a round trip to Redis.

The per-request check (``RedisLimiter.check``) costs every request a round trip, and the
round trip (the system calls, the wake-up on the reply, Redis's own CPU on the same cores)
is most of what rate limits cost (``tests/perf/limits_cpu.py``). Here a process takes, in one
script call (``RedisLimiter.take``), a slice of each scope's requests for the current minute
(counted in Redis at once, so every other process sees them as used) and of its concurrency
slots (members of the scope's slot set, scored by their expiry, so a dead process's slots
lapse), and admits locally until the slice runs out:

- **What a slice holds.** What is *needed* (the requests of this process waiting for the
  call) is granted up to the room left, exactly as that many per-request checks would be.
  What is *wanted besides* (twice what the process used since its last call, so a steady load
  needs about one call per lease period) is granted only while the scope is far from its
  limit (three quarters of it spare), and then at most 1/16 of the spare room. Near the
  limit a slice is therefore exactly the requests waiting, and N processes together still
  admit no more than the limit.
- **How long.** A lease lasts ``lease_ms`` (and never past its minute). A request after that
  takes a new one (which also refreshes the token count and the remaining room the headers
  report); a lease nobody used for a further ``lease_ms`` is given back (unused requests
  are taken off the minute's count, unused slots removed), and so is everything at shutdown.
- **Tokens per minute** are settled from real usage, so there is nothing to take ahead: a
  lease carries the scope's weighted token count as Redis had it, plus what this process
  settled since; a scope whose count reached its limit asks Redis again (which refuses).
  Another process's tokens show up within a lease period.
- **Headers** (``x-ratelimit-remaining-*``) are the room Redis reported at the last call plus
  what is left of this process's slice: exact in one process, within the other processes'
  unused slices across several.

Requests that find their scopes' slices empty share one script call (single flight per
scope set). A refusal is the script's, with the same verdict as the per-request check.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from gateway.limits.redis_limiter import RedisLimiter, refusal
from gateway.limits.redis_pipe import bulk
from gateway.limits.windows import WINDOW_MS, ScopeLimits, Verdict

_MAX_REQUESTS = 100_000  # requests one call may want besides those waiting
_MAX_SLOTS = 256  # slots one call may want besides those waiting
_DIVISOR = 16  # what is wanted besides gets at most this share of the spare room
_CACHE_MAX = 4096  # scope sets whose leases are kept found by identity


class _Lease:
    """This process's lease of one scope: its minute's requests and slots held, its token view."""

    __slots__ = (
        "deadline", "free", "in_use", "minute", "room", "scope", "slots", "tokens_local", "tokens_seen", "used"
    )  # fmt: skip

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.minute = -1
        self.deadline = 0  # ms: after it the next request takes a new lease
        self.free = 0  # requests counted in Redis for ``minute``, not used yet
        self.room = -1  # the room Redis reported after the last call (-1: no request limit)
        self.used = 0  # requests admitted since the last call
        self.tokens_seen = 0  # the weighted token count Redis reported at the last call
        self.tokens_local = 0  # tokens this process settled since
        self.slots: list[tuple[bytes, int]] = []  # free slots held: (member, expiry ms)
        self.in_use = 0  # slots held by requests in flight


class _Refill:
    __slots__ = ("scopes", "task", "waiters")

    def __init__(self, scopes: Sequence[ScopeLimits]) -> None:
        self.scopes = scopes
        self.waiters = 0
        self.task: asyncio.Task[Verdict | None] | None = None


def _retrieved(task: asyncio.Task[Verdict | None]) -> None:
    if not task.cancelled():
        task.exception()


class RateLeases:
    """The ``Limiter`` the guard uses with Redis: quota leases over ``RedisLimiter``."""

    def __init__(self, redis: RedisLimiter, *, lease_ms: int = 1000) -> None:
        self._redis = redis
        self._lease_ms = lease_ms
        self._member = uuid.uuid4().hex[:16].encode()  # this process's slot members: <member>#<n>
        self._next_member = 0
        self._leases: dict[str, _Lease] = {}
        self._sets: dict[int, tuple[Sequence[ScopeLimits], list[_Lease]]] = {}
        self._refills: dict[int, _Refill] = {}
        self._held: dict[str, list[tuple[_Lease, bytes, int]]] = {}  # request id -> its slots
        self._back_requests: dict[tuple[str, int], int] = {}  # (scope, minute) -> requests to give back
        self._back_slots: dict[str, list[bytes]] = {}  # scope -> slot members to give back

    @property
    def redis(self) -> RedisLimiter:
        return self._redis

    def _leases_of(self, scopes: Sequence[ScopeLimits]) -> list[_Lease]:
        # Found by the scope sequence's identity (the guard keeps one per principal; the entry
        # holds it, so its id is not reused while cached).
        got = self._sets.get(id(scopes))
        if got is not None and got[0] is scopes:
            return got[1]
        if len(self._sets) >= _CACHE_MAX:
            self._sets = {}
        leases = []
        for s in scopes:
            lease = self._leases.get(s.scope)
            if lease is None:
                lease = self._leases[s.scope] = _Lease(s.scope)
            leases.append(lease)
        self._sets[id(scopes)] = (scopes, leases)
        return leases

    async def check(self, scopes: Sequence[ScopeLimits], request_id: str, now_ms: int, ttl_ms: int) -> Verdict:
        leases = self._leases_of(scopes)
        while True:
            if self._ready(scopes, leases, now_ms, ttl_ms):
                return self._admit(scopes, leases, request_id, now_ms)
            refused = await self._refill(scopes, leases, now_ms, ttl_ms)
            if refused is not None:
                return refused
            now_ms = max(now_ms, _now_ms())  # (the call took time; the minute may have turned)

    def _ready(self, scopes: Sequence[ScopeLimits], leases: list[_Lease], now_ms: int, ttl_ms: int) -> bool:
        """Whether every scope's lease can admit one more request now."""
        minute = now_ms // WINDOW_MS
        for s, lease in zip(scopes, leases, strict=True):
            if now_ms >= lease.deadline or lease.minute != minute:
                return False
            if s.rpm and lease.free <= 0:
                return False
            if s.tpm and lease.tokens_seen + lease.tokens_local >= s.tpm:
                return False
            if s.parallel:
                slots = lease.slots
                # A slot reused for longer than half its life goes back (its score would lapse).
                while slots and slots[-1][1] - now_ms < ttl_ms // 2:
                    self._back_slots.setdefault(lease.scope, []).append(slots.pop()[0])
                if not slots:
                    return False
        return True

    def _admit(self, scopes: Sequence[ScopeLimits], leases: list[_Lease], request_id: str, now_ms: int) -> Verdict:
        lr = rr = lt = rt = -1
        held: list[tuple[_Lease, bytes, int]] | None = None
        for s, lease in zip(scopes, leases, strict=True):
            if s.rpm:
                lease.free -= 1
                lease.used += 1
                remaining = lease.room + lease.free
                if rr < 0 or remaining < rr:
                    lr, rr = s.rpm, max(0, remaining)
            if s.tpm:
                remaining = s.tpm - lease.tokens_seen - lease.tokens_local
                if rt < 0 or remaining < rt:
                    lt, rt = s.tpm, max(0, remaining)
            if s.parallel:
                member, expiry = lease.slots.pop()
                lease.in_use += 1
                if held is None:
                    held = self._held[request_id] = []
                held.append((lease, member, expiry))
        reset = WINDOW_MS - now_ms % WINDOW_MS
        return Verdict(True, "", "", 0, lr, rr, reset, lt, rt, reset)

    async def _refill(
        self, scopes: Sequence[ScopeLimits], leases: list[_Lease], now_ms: int, ttl_ms: int
    ) -> Verdict | None:
        """Take new leases for ``scopes`` (one call shared by the requests waiting for it): a
        refusal, or None (try the leases again)."""
        key = id(scopes)
        refill = self._refills.get(key)
        # (A finished call stays registered until its done callbacks run: awaiting it would
        # not yield, so a request that lost its grant to another would spin without end.)
        if refill is None or refill.scopes is not scopes or refill.task is None or refill.task.done():
            refill = self._refills[key] = _Refill(scopes)
            task = refill.task = asyncio.ensure_future(self._take(refill, leases, now_ms, ttl_ms))
            task.add_done_callback(_retrieved)
            task.add_done_callback(lambda _: self._refills.pop(key, None) if self._refills.get(key) is refill else None)
        else:
            refill.waiters += 1
            task = refill.task
        # Shielded: a cancelled request (its client went away) leaves the call to the others.
        return await asyncio.shield(task)

    async def _take(self, refill: _Refill, leases: list[_Lease], now_ms: int, ttl_ms: int) -> Verdict | None:
        await asyncio.sleep(0)  # the requests of this loop tick join the call
        scopes = refill.scopes
        demand = 1 + refill.waiters
        minute = now_ms // WINDOW_MS
        wants: list[tuple[int, int, int, int]] = []
        slots = 0
        for s, lease in zip(scopes, leases, strict=True):
            if lease.minute < minute:
                self._give_back_requests(lease)
                lease.minute, lease.used = minute, 0
            lease.deadline = max(lease.deadline, now_ms)  # (not idle: maintain leaves it be)
            need_r = extra_r = need_c = extra_c = 0
            if s.rpm:
                need_r = max(0, demand - lease.free)
                extra_r = max(0, min(_MAX_REQUESTS, 2 * lease.used) - lease.free - need_r)
            if s.parallel:
                need_c = max(0, demand - len(lease.slots))
                extra_c = max(0, min(_MAX_SLOTS, lease.in_use + need_c) - len(lease.slots) - need_c)
                slots += need_c + extra_c
            wants.append((need_r, extra_r, need_c, extra_c))
        first = self._next_member
        self._next_member += slots
        r = await self._redis.take(scopes, now_ms, now_ms + ttl_ms, self._member, first, _DIVISOR, wants)
        if not r[0]:
            return refusal(scopes, r, now_ms)
        deadline = min(now_ms + self._lease_ms, (minute + 1) * WINDOW_MS)
        number = first
        for i, (s, lease) in enumerate(zip(scopes, leases, strict=True)):
            granted, room, tokens, slots_granted = r[1 + 4 * i : 5 + 4 * i]
            if lease.minute != minute:  # (another call moved it on meanwhile: its minute is over)
                continue
            lease.free += granted
            lease.room = room
            lease.used = 0
            lease.deadline = deadline
            if s.tpm:
                lease.tokens_seen, lease.tokens_local = tokens, 0
            for _ in range(slots_granted):
                lease.slots.append((b"%b#%d" % (self._member, number), now_ms + ttl_ms))
                number += 1
        return None

    def _give_back_requests(self, lease: _Lease) -> None:
        if lease.free > 0:
            key = (lease.scope, lease.minute)
            self._back_requests[key] = self._back_requests.get(key, 0) + lease.free
        lease.free = 0

    async def release(self, scopes: Sequence[ScopeLimits], request_id: str, tokens: int, now_ms: int) -> None:
        await self.release_many([(scopes, request_id, tokens, now_ms)])

    async def release_many(self, items: Sequence[tuple[Sequence[ScopeLimits], str, int, int]]) -> None:
        """Settle calls: their slots go back to the leases (no I/O), their tokens to Redis."""
        counts: dict[bytes, int] = {}
        for scopes, request_id, tokens, now_ms in items:
            held = self._held.pop(request_id, None)
            if held is not None:
                for lease, member, expiry in held:
                    lease.in_use -= 1
                    lease.slots.append((member, expiry))
            if not tokens:
                continue
            minute = now_ms // WINDOW_MS
            for s in scopes:
                if s.tpm:
                    key = self._redis.key(b"t", s.scope, minute)
                    counts[key] = counts.get(key, 0) + tokens
                    mine = self._leases.get(s.scope)
                    if mine is not None and mine.minute == minute:
                        mine.tokens_local += tokens
        await self._send(counts)

    def maintain(self, now_ms: int) -> None:
        """Give back the leases nobody used for a lease period after they ran out."""
        idle = [lease for lease in self._leases.values() if now_ms >= lease.deadline + self._lease_ms]
        for lease in idle:
            self._give_back_requests(lease)
            if lease.slots:
                self._back_slots.setdefault(lease.scope, []).extend(m for m, _ in lease.slots)
                lease.slots = []
            if lease.in_use == 0:
                del self._leases[lease.scope]
        if idle:
            self._sets = {}  # (they held the leases just dropped)

    async def give_back(self, now_ms: int) -> None:
        """Maintain, then send what goes back."""
        self.maintain(now_ms)
        await self._send({}, now_ms)

    async def _send(self, counts: dict[bytes, int], now_ms: int | None = None) -> None:
        """One settlement call: ``counts`` plus the queued give-backs."""
        if self._back_requests:
            current = (now_ms if now_ms is not None else _now_ms()) // WINDOW_MS
            for (scope, minute), n in self._back_requests.items():
                if minute >= current - 1:  # (older counters no longer weigh in, and may have expired)
                    key = self._redis.key(b"r", scope, minute)
                    counts[key] = counts.get(key, 0) - n
            self._back_requests = {}
        members: dict[bytes, list[bytes]] = {}
        if self._back_slots:
            for scope, gone in self._back_slots.items():
                members[self._redis.key(b"c", scope)] = [bulk(m) for m in gone]
            self._back_slots = {}
        await self._redis.settle(members, counts)

    async def close(self) -> None:
        """Give back every lease (the requests in flight are over), then close Redis."""
        try:
            for lease in self._leases.values():
                self._give_back_requests(lease)
                gone = [m for m, _ in lease.slots]
                gone += [m for held in self._held.values() for owner, m, _ in held if owner is lease]
                if gone:
                    self._back_slots.setdefault(lease.scope, []).extend(gone)
                lease.slots = []
            self._leases, self._sets, self._held = {}, {}, {}
            await self._send({})
        finally:
            await self._redis.close()


def _now_ms() -> int:
    return int(time.time() * 1000)
