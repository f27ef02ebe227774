"""A connection's view of its session: the id it has open, the mode, its working copy.

The session manager changes it; command handlers read it (``get``, ``keys``) and the connection
reads what it needs to write replies (``closing``, ``barrier``).  It also carries the command
table that fits its state, switched on bind/unbind, so that the per-line path checks neither
authentication nor whether a session is open (see ``tables.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ...protocol.replies import Err
from ...storage.worker import Barrier

if TYPE_CHECKING:
    from .manager import SessionManager

__all__ = ["MODES", "NONE", "QUIT", "READ", "WRITE", "ConnectionState", "Spec", "Tables"]

NONE: Final = 0
READ: Final = 1
WRITE: Final = 2
MODES: Final = {b"r": READ, b"w": WRITE, b"rw": WRITE}

#: The result of ``quit``: an ``ok``, then the connection closes.
QUIT: Final = Err("quit", "")
#: The data of a connection without a session: never changed (writes need a bound session).
NO_DATA: dict[bytes, bytes] = {}

#: How a command table row is kept: (handler, number of parts required).
Spec = tuple[Callable[["ConnectionState", list[bytes]], Any], int]


class Tables(NamedTuple):
    """The command tables of a connection's three states (see ``tables.py``)."""

    auth: dict[bytes, Spec]
    idle: dict[bytes, Spec]
    open: dict[bytes, Spec]


class ConnectionState:
    """One connection's view: the session it has open, its mode and its uncommitted changes.

    ``data`` is a private working copy (a reader's is the store's own mapping, never changed);
    other connections see changes only when ``commit`` or ``close`` saves them.  ``size`` is the
    working copy's size in bytes, -1 until a ``put`` needs it.  ``locked`` is the id whose write
    lock this connection holds.  ``barrier`` is set after a write to the storage's durability
    barrier; the connection holds its replies back until it settles.
    """

    __slots__ = (
        "admin_tables",
        "admin_token",
        "barrier",
        "closing",
        "data",
        "dirty",
        "locked",
        "lost",
        "m",
        "mode",
        "oneshot",
        "peer",
        "resp",
        "run",
        "sid",
        "size",
        "table",
        "tables",
        "token",
    )

    def __init__(
        self,
        manager: SessionManager,
        tables: Tables,
        *,
        token: bytes | None,
        admin_token: bytes | None = None,
        admin_tables: Tables | None = None,
    ) -> None:
        self.m = manager
        self.tables = tables
        #: How handlers run the manager's coroutines (chosen once, at start; see ``eager``).
        self.run: Callable[[Coroutine[Any, Any, Any]], Any] = manager.run
        #: Whether the connection speaks RESP2 (binary-safe pairs) rather than text.
        self.resp = False
        #: The lock owner of this connection's one-shot writes, distinct from the state itself
        #: so that a one-shot never takes over the lock of the session the connection has open.
        self.oneshot = OneShot()
        self.peer = ""
        self.sid: bytes | None = None
        self.mode = NONE
        self.data: dict[bytes, bytes] = NO_DATA
        self.dirty = False
        self.size = -1
        self.lost = False
        self.locked: bytes | None = None
        self.barrier: Barrier | None = None
        self.closing = False
        #: The token this connection must send before anything else, if the daemon has one,
        #: and the one of the admin role (see ``compat.authenticate``).
        self.token = token
        self.admin_token = admin_token
        #: The tables of the admin role, which a good admin token switches to.
        self.admin_tables = admin_tables if admin_tables is not None else tables
        self.table = tables.auth if token is not None else tables.idle

    def bind(self, sid: bytes, mode: int, data: dict[bytes, bytes]) -> None:
        # Unbound state is clean (see unbind), so only these change.
        self.sid = sid
        self.mode = mode
        self.data = data
        self.table = self.tables.open

    def unbind(self) -> None:
        self.table = self.tables.idle
        self.sid = None
        self.dirty = False
        self.lost = False
        self.size = -1
        self.mode = NONE
        self.data = NO_DATA

    def lock_lost(self, sid: bytes) -> None:
        """Called by the lock table when this connection's lease on ``sid`` expired."""
        if self.locked == sid:
            self.locked = None
        if self.sid == sid and self.mode == WRITE:
            self.mode = READ
            self.dirty = False
            self.lost = True

    def authenticated(self) -> None:
        """Every command may be used from now on."""
        self.table = self.tables.idle if self.sid is None else self.tables.open


class OneShot:
    """Owns the lock of a one-shot write for the moment it lasts."""

    __slots__ = ()

    def lock_lost(self, sid: bytes) -> None:
        """A one-shot write never outlives a lease."""
