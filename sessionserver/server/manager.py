"""The daemon-wide state that every connection's commands share."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from .eager import eager
from .locks import LocalLocks, Locks, SharedLocks
from .users import UserIndex

if TYPE_CHECKING:
    from ..storage import Storage
    from .config import ServerConfig

__all__ = ["Manager"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident memory of this process (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _as_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro)


class Manager:
    """Storage, locks, limits and counters of one daemon.

    Attributes used on the per-line path are plain attributes (not properties) on purpose.
    """

    def __init__(self, config: ServerConfig, storage: Storage) -> None:
        self.config = config
        self.storage = storage
        self.locks: Locks
        if storage.shared:
            # Several daemons on one store: locks and the user index live in the store.
            self.locks = SharedLocks(storage, timeout=config.lock_timeout, lease=config.lock_lease)
        else:
            self.locks = LocalLocks(timeout=config.lock_timeout, lease=config.lock_lease)
        self.run: Callable[[Coroutine[Any, Any, Any]], Any] = _as_task if storage.shared else eager
        self.users = UserIndex(tuple(key.encode() for key in config.user_keys))
        if config.user_keys and not storage.shared:
            storage.events = self.users
        self.max_value = config.max_value
        self.max_keys = config.max_keys
        self.max_session = config.max_session
        self.allow_client_ids = config.allow_client_ids
        self.token = config.auth_token.reveal().encode() if config.auth_token else None
        self.started_at = time.time()
        self.rss_at_start = 0
        self.connections = 0
        self.connections_total = 0
        self.connections_rejected = 0
        #: Counters of connections that have closed; live ones keep their own.
        self.commands_closed = 0
        self.errors_closed = 0
        self.live: Callable[[], Iterable[Any]] = tuple
        self.sessions_created = 0
        self.sessions_destroyed = 0

    async def user_sessions(self, user: bytes) -> list[bytes]:
        """The sessions that name ``user`` (possibly some that just expired: callers check)."""
        if self.storage.shared:
            return await self.storage.user_sessions(user, time.time())
        return self.users.sessions(user)

    def stats(self, sessions: int) -> list[tuple[str, int | float | str]]:
        """Name/value pairs for the ``stats`` command, in a stable order."""
        now = time.time()
        locks = self.locks
        items: list[tuple[str, int | float | str]] = [
            ("uptime", int(now - self.started_at)),
            ("storage", self.storage.scheme),
            ("sessions", sessions),
            ("sessions_created", self.sessions_created),
            ("sessions_destroyed", self.sessions_destroyed),
            ("connections", self.connections),
            ("connections_total", self.connections_total),
            ("connections_rejected", self.connections_rejected),
            ("commands_total", self.commands_closed + sum(c.commands for c in self.live())),
            ("errors_total", self.errors_closed + sum(c.errors for c in self.live())),
            ("locks_held", len(locks)),
            ("lock_waiting", locks.waiting()),
            ("lock_waits_total", locks.waits_total),
            ("lock_timeouts_total", locks.timeouts_total),
            ("lock_leases_expired_total", locks.leases_expired_total),
            ("memory_rss", rss_bytes()),
            ("memory_rss_at_start", self.rss_at_start),
        ]
        if not self.storage.shared:  # a shared store's index is not counted here
            items.insert(10, ("users", len(self.users)))
        items.extend(self.storage.info().items())
        return items
