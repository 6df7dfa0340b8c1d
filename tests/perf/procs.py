"""Child processes of a benchmark run: start pinned, wait until ready, measure memory, stop.

Every child gets its own session (so Ctrl-C reaches only the runner, which then stops
them in order) and is stopped through its own process group, which also ends any
worker processes it forked. Nothing here touches a process the runner did not start.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

_STOP_WAIT_S = 10.0


class ChildFailed(RuntimeError):
    """A child exited or never became ready; the message carries the tail of its log."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the child binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, chars: int = 1500) -> str:
    """The end of a child's log, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class Child:
    """One started process, its log file and its name in the report."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def check_alive(self) -> None:
        """Raise :class:`ChildFailed` with its log when the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise ChildFailed(f"{self.name} exited with {code}:\n{log_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM the child's group, wait, then SIGKILL whatever is left of it."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait(_STOP_WAIT_S)
        # Workers of a child that exited first may linger in its group.
        _signal_group(self.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Children:
    """Owns every child of a run; leaving the ``with`` block stops them, newest first."""

    def __init__(self, logdir: Path) -> None:
        self._logdir = logdir
        self._children: list[Child] = []

    def __enter__(self) -> Children:
        self._logdir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        cmd: list[str],
        *,
        cores: frozenset[int] | None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start ``cmd`` in its own session, pinned to ``cores``, logging to ``<logdir>/<name>.log``."""
        log = self._logdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                # Pinned before exec, so every thread and forked worker inherits the cores.
                preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
            )
        child = Child(name, popen, log)
        self._children.append(child)
        return child

    def stop(self, child: Child) -> None:
        """Stop one child now (e.g. when its target has been measured)."""
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all_but(self, *keep: Child | None) -> None:
        """Stop every child except those in ``keep`` (the mock upstream, and the bench's Redis,
        outlive each target)."""
        for child in reversed(self._children[:]):
            if child not in keep:
                self.stop(child)

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self._children:
            self._children.pop().stop()


def wait_http_ok(child: Child, host: str, port: int, path: str, timeout_s: float) -> None:
    """Poll ``GET path`` until it answers 200; raise :class:`ChildFailed` on exit or timeout."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        child.check_alive()
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", path)
            status = conn.getresponse().status
            if status == 200:
                return
            last = f"status {status}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        time.sleep(0.2)
    raise ChildFailed(f"{child.name} not ready after {timeout_s:.0f}s ({last}):\n{log_tail(child.log)}")


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it, from the parent links in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def peak_rss_mb(root: int) -> float | None:
    """Peak resident memory (VmHWM) of ``root`` plus its live descendants, in MiB.

    Summed because a server that forks workers (``--workers 1`` may still mean a
    supervisor plus one worker) costs the memory of all of them.
    """
    total_kb = 0
    seen = False
    for pid in _descendants(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
                seen = True
                break
    return total_kb / 1024.0 if seen else None


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and its live descendants, in seconds."""
    ticks = 0
    for pid in _descendants(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def cores_busy(cores: frozenset[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of ``cores`` so far, from /proc/stat (for a busy fraction between two reads)."""
    busy = total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cores:
            continue
        ticks = [int(v) for v in values]
        total += sum(ticks[:8])  # user nice system idle iowait irq softirq steal
        busy += sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy, total
