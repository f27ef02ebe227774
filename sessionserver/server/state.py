"""A connection's session state, and what every command handler shares.

The state is what a connection sees: the session it has open, the mode, its uncommitted changes
(a private working copy) and the table that says what each command does right now.  Handlers
(``dispatcher.py``, ``oneshot.py``) take it and the request's parts and return a reply value.
"""

from __future__ import annotations

from time import time as now
from typing import TYPE_CHECKING, Any, NamedTuple

from ..protocol.replies import Err
from ..storage.worker import Barrier

if TYPE_CHECKING:
    from .manager import Manager

__all__ = [
    "MAX_KEY_LENGTH",
    "NONE",
    "QUIT",
    "READ",
    "WRITE",
    "ConnectionState",
    "Handler",
    "Spec",
    "Tables",
    "bad_key",
    "now",
    "seconds",
    "size_of",
]

NONE, READ, WRITE = 0, 1, 2

#: The result of ``quit``: an ``ok``, then the connection closes.
QUIT = Err("quit", "")
MODES = {b"r": READ, b"w": WRITE, b"rw": WRITE}
MAX_KEY_LENGTH = 1024
#: The data of a connection without a session: never changed (writes need a bound session).
NO_DATA: dict[bytes, bytes] = {}
MAX_TTL = 10 * 365 * 86400


class ConnectionState:
    """One connection's view: the session it has open, its mode and its uncommitted changes.

    ``data`` is a private working copy; other connections see changes only when ``commit`` or
    ``close`` saves them.  ``barrier`` is set after a write to the storage's durability barrier;
    the connection holds its replies back until that completes.
    """

    __slots__ = (
        "barrier",
        "closing",
        "data",
        "dirty",
        "locked",
        "locks",
        "lost",
        "m",
        "mode",
        "oneshot",
        "resp",
        "run",
        "sid",
        "size",
        "storage",
        "table",
        "tables",
    )

    def __init__(self, manager: Manager, tables: Tables) -> None:
        self.m = manager
        self.tables = tables
        #: Whether the connection speaks RESP2 (binary-safe pairs) rather than text.
        self.resp = False
        #: The lock owner of this connection's one-shot writes, distinct from the state itself
        #: so that a one-shot never takes over the lock of the session the connection has open.
        self.oneshot = _OneShot()
        self.storage = manager.storage
        self.locks = manager.locks
        #: How handlers run a coroutine: ``eager`` (inline until it waits), or as a Task for
        #: network stores, whose drivers need one (their timeouts do).
        self.run = manager.run
        self.sid: bytes | None = None
        self.mode = NONE
        self.data: dict[bytes, bytes] = NO_DATA
        self.dirty = False
        self.size = -1
        self.lost = False
        self.locked: bytes | None = None
        self.barrier: Barrier | None = None
        self.closing = False
        self.table = tables.auth if manager.token is not None else tables.idle

    def bind(self, sid: bytes, mode: int, data: dict[bytes, bytes]) -> None:
        # Unbound state is clean (see unbind), so only these change.
        self.sid = sid
        self.mode = mode
        self.data = data
        self.table = self.tables.open

    def unbind(self) -> None:
        self.table = self.tables.idle
        self.sid = None
        if self.mode != READ or self.lost:  # a reader is never dirty
            self.dirty = False
            self.lost = False
        self.size = -1
        self.mode = NONE
        self.data = NO_DATA

    def unlock(self) -> None:
        if self.locked is not None:
            self.locks.release(self.locked, self)
            self.locked = None

    def lock_lost(self, sid: bytes) -> None:
        """Called by the lock table when this connection's lease on ``sid`` expired."""
        if self.locked == sid:
            self.locked = None
        if self.sid == sid and self.mode == WRITE:
            self.mode = READ
            self.dirty = False
            self.lost = True

    def disconnect(self) -> None:
        """The connection is gone: drop uncommitted changes, release the lock."""
        self.unlock()
        self.unbind()

    def wrote(self) -> None:
        """Remember the storage's durability barrier for the reply to this write."""
        if self.storage.write_behind:
            self.barrier = self.storage.barrier()


class _OneShot:
    """Owns the lock of a one-shot write for the few microseconds it lasts."""

    __slots__ = ()

    def lock_lost(self, sid: bytes) -> None:
        """A one-shot write never outlives a lease."""


Handler = "Callable[[ConnectionState, list[Any]], Any]"
Spec = tuple[Any, int]


class Tables(NamedTuple):
    """The command tables of a connection's three states (see ``tables.py``)."""

    auth: dict[bytes, Spec]
    idle: dict[bytes, Spec]
    open: dict[bytes, Spec]


def size_of(data: dict[bytes, bytes]) -> int:
    """Bytes of a session's keys and values (what ``--max-session`` limits)."""
    return sum(map(len, data)) + sum(map(len, data.values()))


def bad_key(key: bytes) -> bool:
    """Keys are 1 to 1024 bytes without space, ``|``, CR or LF (what ``keys`` can list)."""
    return not key or len(key) > MAX_KEY_LENGTH or 124 in key or 32 in key or 10 in key or 13 in key


def seconds(raw: bytes, low: int) -> int | None:
    """A whole number of seconds from ``low`` to ten years, or None."""
    if not raw.isdigit() or not raw.isascii() or len(raw) > 10:
        return None
    value = int(raw)
    return value if low <= value <= MAX_TTL else None
