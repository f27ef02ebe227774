"""The session manager in process: a plain container, a fake clock, no sockets, no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from sessionserver.protocol.replies import MISSING_ARGUMENT
from sessionserver.server.sessions.counters import Counters
from sessionserver.server.sessions.limits import Limits
from sessionserver.server.sessions.manager import SessionManager
from sessionserver.server.sessions.state import ConnectionState
from sessionserver.server.sessions.strategy import InlineStrategy, LocalStrategy
from sessionserver.server.tables import TABLES, UNKNOWN
from sessionserver.storage import StorageOptions
from sessionserver.storage.memory import MemoryStorage

Kind = Literal["inline", "local"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the daemon runs on asyncio (or uvloop)


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stack:
    manager: SessionManager
    store: MemoryStorage
    clock: FakeClock
    counters: Counters = field(default_factory=Counters)

    def connection(self) -> ConnectionState:
        return ConnectionState(self.manager, TABLES, token=None)


def make_stack(
    kind: Kind = "inline",
    *,
    ttl: int = 1440,
    lock_timeout: float = 5.0,
    lock_lease: float = 30.0,
    allow_client_ids: bool = False,
    limits: Limits | None = None,
) -> Stack:
    """A manager over ``memory://`` through the inline strategy (the per-request fast steps)
    or the local one (the general steps a store that waits takes): the same commands must give
    the same replies through both."""
    clock = FakeClock()
    store = MemoryStorage(
        "memory://", StorageOptions(ttl=ttl, user_keys=(b"_user_id", b"_auth_user_id"))
    )
    cls: type[LocalStrategy] = InlineStrategy if kind == "inline" else LocalStrategy
    strategy = cls(store, lock_timeout=lock_timeout, lock_lease=lock_lease)
    counters = Counters()
    manager = SessionManager(
        strategy,
        limits=limits or Limits(),
        counters=counters,
        allow_client_ids=allow_client_ids,
        clock=clock,
    )
    return Stack(manager, store, clock, counters)


async def settle(reply: Any) -> Any:
    """A reply, once it is there (the manager hands back a future when it has to wait)."""
    while isinstance(reply, asyncio.Future):
        reply = await reply
    return reply


def request(st: ConnectionState, line: bytes | list[bytes]) -> Any:
    """Dispatch one request as the connection does: the state's table, then the handler.
    A ``bytes`` line is split as the text framing splits it; a list is RESP2's arguments."""
    if isinstance(line, bytes):
        st.resp = False
        parts = line.split(b" ", 2)
    else:
        st.resp = True
        parts = line
    handler: Callable[[ConnectionState, list[bytes]], Any]
    handler, nparts = st.table.get(parts[0].lower(), UNKNOWN)
    if len(parts) < nparts:
        return MISSING_ARGUMENT
    return handler(st, parts)
