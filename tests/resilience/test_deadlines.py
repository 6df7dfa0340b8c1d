"""Deadlines, the timeout header, and keep-alives during upstream silence."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import InvalidRequest, UpstreamTimeout
from gateway.resilience.deadlines import Deadline, total_deadline_s
from gateway.resilience.keepalive import ANTHROPIC_KEEPALIVE, OPENAI_KEEPALIVE, keepalive_frame, paced


def test_header_lowers_never_raises() -> None:
    assert total_deadline_s(600.0, None) == 600.0
    assert total_deadline_s(600.0, "2500") == 2.5
    assert total_deadline_s(5.0, "60000") == 5.0


@pytest.mark.parametrize("bad", ["", "0", "-5", "1.5", "soon"])
def test_bad_header_is_a_400(bad: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        total_deadline_s(600.0, bad)
    assert err.value.param == "X-Gateway-Timeout-Ms"


def test_first_byte_wait() -> None:
    d = Deadline(at=100.0)
    assert d.first_byte_wait(90.0, 60.0, stream=True) == 10.0
    assert d.first_byte_wait(10.0, 60.0, stream=True) == 60.0
    assert d.first_byte_wait(10.0, 60.0, stream=False) == 90.0


def test_keepalive_frames_are_comments_or_pings() -> None:
    assert keepalive_frame("openai") == OPENAI_KEEPALIVE and OPENAI_KEEPALIVE.startswith(b":")
    assert keepalive_frame("anthropic") == ANTHROPIC_KEEPALIVE and b"event: ping" in ANTHROPIC_KEEPALIVE


class Slow:
    """Chunks after given pauses; the reads are cancel-safe like the real seam's."""

    def __init__(self, plan: list[tuple[float, bytes]]) -> None:
        self._plan = plan
        self._pending: asyncio.Future[bytes] | None = None

    async def _next(self) -> bytes:
        if not self._plan:
            return b""
        pause, chunk = self._plan.pop(0)
        await asyncio.sleep(pause)
        return chunk

    async def read_chunk(self) -> bytes:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._next())
        chunk = await asyncio.shield(self._pending)
        self._pending = None
        return chunk


async def collect(src: Slow, *, idle_s: float, keepalive_s: float, deadline_at: float) -> list[bytes]:
    return [c async for c in paced(src.read_chunk, idle_s=idle_s, keepalive_s=keepalive_s, deadline_at=deadline_at)]


def test_silence_gets_keepalives_and_no_data_is_lost() -> None:
    src = Slow([(0.0, b"a"), (0.35, b"b"), (0.0, b"c")])
    out = asyncio.run(collect(src, idle_s=5.0, keepalive_s=0.1, deadline_at=float("inf")))
    assert out[0] == b"a" and out[-2:] == [b"b", b"c"]
    ticks = out[1:-2]
    assert ticks and all(t == b"" for t in ticks)


def test_idle_gap_ends_the_stream() -> None:
    src = Slow([(0.0, b"a"), (5.0, b"never")])
    with pytest.raises(UpstreamTimeout, match="sent nothing"):
        asyncio.run(collect(src, idle_s=0.2, keepalive_s=0.05, deadline_at=float("inf")))


def test_total_deadline_ends_the_stream() -> None:
    async def run() -> list[bytes]:
        src = Slow([(0.0, b"a")] + [(0.05, b"x")] * 100)
        loop = asyncio.get_running_loop()
        return await collect(src, idle_s=5.0, keepalive_s=0.0, deadline_at=loop.time() + 0.3)

    with pytest.raises(UpstreamTimeout, match="total deadline"):
        asyncio.run(run())
