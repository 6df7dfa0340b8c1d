"""``Alarm``: a one-shot deadline for the running task, cheaper than ``asyncio.timeout``.

The hot path bounds several waits per request (the provider's response headers, a whole
answer, each gap between stream events). ``asyncio.timeout`` costs two coroutine objects
and half a dozen Python calls each time; an alarm is one timer handle on the loop. It
cancels the task when it goes off, and the code that catches the ``CancelledError`` asks
``expired()`` whether the cancel was the alarm's (taken back, so the task carries on, as
``asyncio.timeout`` does) or someone else's (a client that left, a shutdown), which must
propagate::

    alarm = Alarm.at(deadline)
    try:
        data = await read()
    except asyncio.CancelledError:
        if alarm.expired():
            raise UpstreamTimeout(...) from None
        raise
    finally:
        alarm.cancel()

An alarm can be moved (``move_to``) without a new timer while it has not gone off, which
the stream reader uses to push its idle deadline forward on every event for the price of
a float store. While ``armed`` is False (the stream reader between two reads, when the task
is busy sending to the client) it does not cancel: its owner sees ``when`` has passed.
"""

from __future__ import annotations

import asyncio


class Alarm:
    """Cancels the task that armed it when the loop clock reaches ``when`` (see the module docstring)."""

    __slots__ = ("_handle", "_loop", "_task", "armed", "fired", "missed", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], when: float) -> None:
        self._loop = loop
        self._task = task
        self.when = when
        self.fired = False
        self.armed = True
        self.missed = False  # went off while disarmed (its owner handles that when it next looks)
        self._handle: asyncio.TimerHandle | None = loop.call_at(when, self._ring)

    @classmethod
    def at(cls, when: float) -> Alarm:
        """An alarm for the running task at loop time ``when``."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - only ever armed from inside a task
            raise RuntimeError("Alarm.at() needs a running task")
        return cls(asyncio.get_running_loop(), task, when)

    def _ring(self) -> None:
        if self.when - self._loop.time() > 0.001:
            # Moved later since the timer was set: sleep again until the new time (a timer
            # may ring up to the clock's resolution early, hence the millisecond of slack).
            self._handle = self._loop.call_at(self.when, self._ring)
            return
        self._handle = None
        if self.armed:
            self.fired = True
            self._task.cancel()
        else:
            self.missed = True

    def move_to(self, when: float) -> None:
        """Go off at ``when`` instead; moving later costs no new timer (the old one re-arms when due)."""
        if self.fired:
            return
        if self._handle is None:
            self.missed = False
            self._handle = self._loop.call_at(when, self._ring)
        elif when < self.when:
            self._handle.cancel()
            self._handle = self._loop.call_at(when, self._ring)
        self.when = when

    def expired(self) -> bool:
        """After a ``CancelledError``: whether it was this alarm's cancel (then taken back)."""
        if not self.fired:
            return False
        self.fired = False
        # Another cancel requested too (the client left): that one still propagates.
        return self._task.uncancel() == 0

    def arm(self) -> bool:
        """Cancel again from now on (after ``armed = False``); False if its time has passed already."""
        if self._loop.time() >= self.when:
            return False
        self.armed = True
        if self._handle is None:
            self.missed = False
            self._handle = self._loop.call_at(self.when, self._ring)
        return True

    def rearm(self, when: float) -> None:
        """Set again after it went off (and ``expired()`` took its cancel back)."""
        if self._handle is not None:
            self._handle.cancel()
        self.when = when
        self.fired = self.missed = False
        self._handle = self._loop.call_at(when, self._ring)

    def cancel(self) -> None:
        """Disarm (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
