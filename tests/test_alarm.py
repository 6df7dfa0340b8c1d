"""``gateway.alarm.Alarm``: a deadline for the running task, told apart from other cancels."""

from __future__ import annotations

import asyncio

import pytest

from gateway.alarm import Alarm


async def _wait_under(alarm_in_s: float, work_s: float) -> str:
    loop = asyncio.get_running_loop()
    alarm = Alarm.at(loop.time() + alarm_in_s)
    try:
        await asyncio.sleep(work_s)
        return "done"
    except asyncio.CancelledError:
        if alarm.expired():
            return "timed out"
        raise
    finally:
        alarm.cancel()


async def test_the_alarm_cancels_a_wait_that_outlasts_it_and_takes_its_cancel_back() -> None:
    assert await _wait_under(0.02, 5.0) == "timed out"
    # The task carries on normally: its cancel was taken back.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)


async def test_a_wait_that_ends_in_time_is_untouched_and_the_timer_is_gone() -> None:
    assert await _wait_under(0.5, 0.01) == "done"
    await asyncio.sleep(0.6)  # past the alarm's time: a disarmed alarm cancels nothing


async def test_another_cancel_propagates_even_when_the_alarm_also_went_off() -> None:
    task = asyncio.create_task(_wait_under(0.05, 5.0))
    await asyncio.sleep(0.01)  # the task now waits under its alarm
    task.cancel()  # someone else's cancel (a client that left), before the alarm
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_moving_it_later_postpones_it_without_cancelling_early() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm.at(loop.time() + 0.03)
    t0 = loop.time()
    try:
        for _ in range(6):  # keep pushing it 50 ms ahead while "events" arrive every 20 ms
            alarm.move_to(loop.time() + 0.05)
            await asyncio.sleep(0.02)
        await asyncio.sleep(5)
        outcome = "no alarm"
    except asyncio.CancelledError:
        assert alarm.expired()
        outcome = "alarm"
    finally:
        alarm.cancel()
    assert outcome == "alarm"
    waited = loop.time() - t0
    assert 0.15 <= waited < 1.0  # after the last push (~0.12 s + 0.05 s), not at the first 30 ms


async def test_moving_it_earlier_takes_effect() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm.at(loop.time() + 10)
    alarm.move_to(loop.time() + 0.02)
    try:
        await asyncio.sleep(5)
        outcome = "no alarm"
    except asyncio.CancelledError:
        outcome = "alarm" if alarm.expired() else "other"
    finally:
        alarm.cancel()
    assert outcome == "alarm"


async def test_a_disarmed_alarm_does_not_cancel_but_its_time_is_seen_as_passed() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm.at(loop.time() + 0.02)
    alarm.armed = False  # e.g. the stream reader while the relay sends to the client
    await asyncio.sleep(0.06)  # not cancelled
    assert loop.time() >= alarm.when and not alarm.fired
    alarm.rearm(loop.time() + 0.02)
    alarm.armed = True
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(5)
    assert alarm.expired()
    alarm.cancel()
