"""CPU time of the processes a benchmark drives, from ``/proc/<pid>/stat``.

CPU per operation holds on a busy machine where throughput does not: it is what the figures of
``sessionserver bench`` report beside cycles or requests per second.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence

__all__ = ["Window", "children", "cpu_seconds", "redis_pid"]


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def redis_pid(port: int, host: str = "127.0.0.1") -> int:
    """The process id of the Redis server on ``port`` (from ``INFO server``)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        data = b""
        while b"process_id:" not in data or not data.split(b"process_id:", 1)[1].count(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError(f"no process_id in Redis's INFO on port {port}")


class Window:
    """The CPU seconds ``pids`` use together between ``warmup`` and ``warmup + duration``
    seconds from now (the measured window of a run started at the same time)."""

    def __init__(self, pids: Sequence[int], warmup: float, duration: float) -> None:
        self.marks: list[float] = []
        self._timers = [
            threading.Timer(at, lambda: self.marks.append(sum(map(cpu_seconds, pids))))
            for at in (warmup, warmup + duration)
        ]
        for timer in self._timers:
            timer.daemon = True
            timer.start()

    def seconds(self) -> float:
        for timer in self._timers:
            timer.join()
        return self.marks[1] - self.marks[0]
