"""The daemon's counters: what ``stats`` reports (and, later, what metrics export).

Plain integer attributes, bumped on the per-request path without a call; the session manager
and the server are handed the same instance when the daemon starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from ...protocol.replies import Err

__all__ = ["Counters", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident memory of this process (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class Counters:
    """Totals since start."""

    __slots__ = (
        "commands",
        "connections",
        "connections_rejected",
        "connections_total",
        "errors",
        "live",
        "replies",
        "rss_at_start",
        "sessions_created",
        "sessions_destroyed",
        "started_at",
    )

    def __init__(self) -> None:
        self.started_at = time.time()
        self.rss_at_start = 0
        self.connections = 0
        self.connections_total = 0
        self.connections_rejected = 0
        #: Requests read and error replies written, over every connection.
        self.commands = 0
        self.errors = 0
        #: Error replies by name (``Err.name``): a bounded set, counted on the error path only.
        self.replies: dict[str, int] = {}
        self.sessions_created = 0
        self.sessions_destroyed = 0
        #: The open connections (the server's), for what ``stats`` reports of their output.
        self.live: Callable[[], Iterable[Any]] = tuple

    def failed(self, err: Err) -> None:
        """An error reply was sent."""
        self.errors += 1
        self.replies[err.name] = self.replies.get(err.name, 0) + 1
