"""The administration commands: what operators and tools ask, not web requests.

``peek``, ``expires``, ``sessions``, ``gc`` and ``stats`` look at every session without
counting as an access (or, for ``gc``, delete by age); they are kept apart from the session
commands so that they can ask for the admin role, and share the manager's strategy and clock.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from ...ids import is_valid_id
from ...protocol.replies import OPEN_FAILED, Err
from ..eager import resolve, then
from .counters import rss_bytes
from .state import ConnectionState

if TYPE_CHECKING:
    from .manager import SessionManager

__all__ = ["Admin"]

Pairs = dict[bytes, bytes]
Reply = Any


class Admin:
    """The administration commands of one daemon's sessions."""

    def __init__(self, manager: SessionManager) -> None:
        self.m = manager

    def peek(self, sid: bytes) -> Reply:
        """``peek <id>``: the pairs, not counted as an access."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        return then(self.m.strategy.peek(sid, self.m.now()), _peeked_pairs)

    def expires(self, sid: bytes) -> Reply:
        """``expires <id>``: whole seconds left, not counted as an access."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        return then(self.m.strategy.peek(sid, self.m.now()), _peeked_left)

    def sessions(self, cursor: int, count: int) -> Reply:
        """``sessions [cursor] [count]``: live ids, a page at a time."""
        return then(self.m.strategy.scan(cursor, count, self.m.now()), _page)

    def gc(self, st: ConnectionState, idle: int) -> Reply:
        """``gc <seconds>``: delete sessions idle longer than that; how many."""
        return then(self.m.strategy.gc(idle, self.m.now()), partial(self._collected, st))

    def _collected(self, st: ConnectionState, removed: int) -> int:
        self.m.wrote(st)
        return removed

    async def stats(self) -> list[tuple[str, int | float | str]]:
        """Name/value pairs for the ``stats`` command, in a stable order."""
        strategy = self.m.strategy
        sessions = await resolve(strategy.count(self.m.now()))
        c = self.m.counters
        locks = strategy.locks
        items: list[tuple[str, int | float | str]] = [
            ("uptime", int(time.time() - c.started_at)),
            ("storage", strategy.store.scheme),
            ("sessions", sessions),
            ("sessions_created", c.sessions_created),
            ("sessions_destroyed", c.sessions_destroyed),
            ("connections", c.connections),
            ("connections_total", c.connections_total),
            ("connections_rejected", c.connections_rejected),
            ("connections_blocked", sum(1 for conn in c.live() if conn.output.blocked)),
            ("output_unsent", sum(conn.output.unsent for conn in c.live())),
            ("commands_total", c.commands),
            ("errors_total", c.errors),
        ]
        if strategy.users is not None:  # a shared store's index is not counted here
            items.append(("users", len(strategy.users)))
        items += [
            ("locks_held", len(locks)),
            ("lock_waiting", locks.waiting()),
            ("lock_waits_total", locks.waits_total),
            ("lock_timeouts_total", locks.timeouts_total),
            ("lock_leases_expired_total", locks.leases_expired_total),
            ("memory_rss", rss_bytes()),
            ("memory_rss_at_start", c.rss_at_start),
        ]
        items.extend(strategy.store.info().items())
        return items


def _peeked_pairs(found: tuple[Pairs, float] | None) -> Pairs | Err:
    return OPEN_FAILED if found is None else found[0]


def _peeked_left(found: tuple[Pairs, float] | None) -> int | Err:
    return OPEN_FAILED if found is None else max(0, math.ceil(found[1]))


def _page(found: tuple[int, list[bytes]]) -> list[bytes]:
    return [b"%d" % found[0], *found[1]]
