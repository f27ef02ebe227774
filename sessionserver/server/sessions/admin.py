"""The administration commands: what operators and tools ask, not web requests.

``peek``, ``expires``, ``sessions``, ``gc`` and ``stats`` look at every session without
counting as an access (or, for ``gc``, delete by age), and ``backup`` copies them all; they are
kept apart from the session commands so that they can ask for the admin role, and share the
manager's strategy and clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import sqlite3
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from ...ids import is_valid_id
from ...protocol.replies import (
    BACKUP_CANNOT_WRITE,
    BACKUP_EXISTS,
    BACKUP_FAILED,
    BACKUP_FILE,
    BACKUP_MEMORY,
    BACKUP_POSTGRES,
    BACKUP_REDIS,
    INVALID_ARGUMENT,
    OPEN_FAILED,
    Err,
)
from ...storage.base import Backup
from ..eager import resolve, then
from .counters import rss_bytes
from .state import ConnectionState

if TYPE_CHECKING:
    from .manager import SessionManager

__all__ = ["Admin"]

logger = logging.getLogger(__name__)

Pairs = dict[bytes, bytes]
Reply = Any

#: Why ``backup`` does not apply to a store, and what to back up instead.
NO_BACKUP: dict[str, Err] = {
    "memory": BACKUP_MEMORY,
    "file": BACKUP_FILE,
    "redis": BACKUP_REDIS,
    "postgresql": BACKUP_POSTGRES,
}


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

    async def backup(self, path: bytes) -> Reply:
        """``backup <path>``: a consistent copy of the embedded store in a new file, holding
        every write acknowledged before the command; its size in bytes.

        The copy goes to a hidden file beside ``path`` first and is linked to ``path`` only
        once whole and fsynced: ``path`` never holds half a backup, and an existing file is
        never replaced.
        """
        store = self.m.strategy.store
        if not isinstance(store, Backup):
            return NO_BACKUP[store.scheme]
        dest = os.fsdecode(path)
        if not os.path.isabs(dest) or "\0" in dest:
            return INVALID_ARGUMENT
        try:
            partial_path = await asyncio.to_thread(_reserve, dest)
        except FileExistsError:
            return BACKUP_EXISTS
        except OSError as exc:
            logger.warning("cannot write a backup to %s: %s", dest, exc.strerror or exc)
            return BACKUP_CANNOT_WRITE
        try:
            await store.backup(partial_path)
            size = await asyncio.to_thread(_publish, partial_path, dest)
        except FileExistsError:
            return BACKUP_EXISTS
        except (OSError, sqlite3.Error) as exc:
            logger.error("backup to %s failed: %s", dest, exc)
            return BACKUP_FAILED
        finally:
            with contextlib.suppress(OSError):
                os.unlink(partial_path)
        logger.info("backup written to %s (%d bytes)", dest, size)
        return size

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


def _reserve(dest: str) -> str:
    """An empty file, for the server's user only, beside ``dest``, for the copy to go to."""
    if os.path.lexists(dest):
        raise FileExistsError(dest)
    folder, name = os.path.split(dest)
    partial_path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return partial_path


def _publish(partial_path: str, dest: str) -> int:
    """Make the finished copy durable and give it its name (never over an existing file)."""
    fd = os.open(partial_path, os.O_RDONLY)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    os.link(partial_path, dest)
    fd = os.open(os.path.dirname(dest), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return size
