"""The storage contract every container implements, and the options they share.

A container stores committed sessions: a flat mapping of byte-string keys to byte-string values
per session id, plus what expiry needs.  Locks, modes and uncommitted changes live above it, in
the daemon's dispatcher.  The contract, which ``tests/storage/test_contract.py`` checks against
every container:

- ``create`` is atomic create-if-absent and ``save`` is atomic update-if-present: a session
  deleted (or expired) concurrently is never brought back by a late ``save``.
- Expired equals absent, at once: every read compares against ``now``; reclaiming the space is
  done by ``purge_expired`` in time proportional to what expired.
- Loading an unknown id never creates anything; an id that fails :func:`ids.is_valid_id` is
  treated as unknown and never reaches a path, a key or a query.
- ``load`` is an access: it slides the idle expiry (``touch``) without rewriting the data.
- Times are wall-clock seconds (``time.time()``), passed in by the caller, so that tests can
  drive expiry and persisted deadlines survive a restart.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

from ..exceptions import LockLost, StorageError
from .worker import Barrier

__all__ = [
    "APPLIED",
    "APPLY_ABSENT",
    "APPLY_LOCKED",
    "APPLY_TOO_LARGE",
    "APPLY_TOO_MANY_KEYS",
    "Backup",
    "FsyncPolicy",
    "InlineStorage",
    "LockLost",
    "SharedStorage",
    "Step",
    "Storage",
    "StorageError",
    "StorageEvents",
    "StorageOptions",
    "WriteBehind",
    "ready",
    "user_id",
]

FsyncPolicy = Literal["always", "everysec", "no"]

_T = TypeVar("_T")
#: What the per-request calls of the contract return: a coroutine (``async def``), or a future
#: already on its way, for a container that needs no coroutine per call (a reply resolves it).
Step: TypeAlias = "Coroutine[Any, Any, _T] | asyncio.Future[_T]"


class StorageEvents(Protocol):
    """What a container reports to the daemon (the user index listens), on the loop thread."""

    def saved(self, sid: bytes, data: dict[bytes, bytes]) -> None:
        """A session was created or its pairs replaced."""

    def dropped(self, sid: bytes) -> None:
        """A session is gone: destroyed, expired, collected."""

    def renamed(self, old: bytes, new: bytes) -> None:
        """A session moved to a new id."""


#: What :meth:`Storage.apply` did.
APPLIED, APPLY_ABSENT, APPLY_LOCKED, APPLY_TOO_MANY_KEYS, APPLY_TOO_LARGE = 1, 0, -2, -3, -4


def user_id(data: dict[bytes, bytes], keys: tuple[bytes, ...]) -> bytes | None:
    """The user a session belongs to: the value of the first of ``keys`` it has, a JSON
    string or number taken as the plain id (``"42"`` and ``42`` are the same user); an empty
    one is no user (the Lua and SQL of the shared stores follow the same rule)."""
    for key in keys:
        value = data.get(key)
        if value is not None:
            return plain_user(value) or None
    return None


def plain_user(value: bytes) -> bytes:
    """A user id as stored (a JSON string or number) or as asked for, as the plain id."""
    if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
        return value[1:-1]
    return value


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """What every container needs to know about lifetimes and durability.

    Attributes:
        ttl: default idle lifetime in seconds (sliding on every access).
        user_keys: the keys whose value names a session's user (see :func:`user_id`).
        max_lifetime: absolute lifetime in seconds from creation, or None.
        fsync: what survives a power loss: ``always`` (fsync before every ``ok``),
            ``everysec`` (at most a second of acknowledged writes lost) or ``no`` (the OS
            decides).  A crash of the daemon alone loses nothing acknowledged in any mode.
    """

    ttl: int = 1440
    max_lifetime: int | None = None
    fsync: FsyncPolicy = "everysec"
    #: The session keys that name a session's user (shared containers index them).
    user_keys: tuple[bytes, ...] = ()


class Storage(ABC):
    """A session container; see the module docstring for the contract.

    Methods are coroutines.  The in-memory containers never suspend in them, which lets the
    daemon run them inline (see ``server/eager.py``); the others do their blocking work on a
    worker thread or over the network.
    """

    #: The URL scheme that selects this container.
    scheme: ClassVar[str]

    def __init__(self, url: str, options: StorageOptions) -> None:
        self.url = url
        self.options = options
        #: False while the container knows it cannot persist writes (a plain attribute: it is
        #: read on every ``put``).
        self.available = True
        #: Who hears of saves, drops and renames (set by the daemon before ``start``).
        self.events: StorageEvents | None = None

    async def replay(self) -> None:  # noqa: B027 - optional hook
        """Report every stored session to ``events`` (``saved``), once, after ``start``."""

    def describe(self) -> str:
        """The storage as shown in logs (never with a password)."""
        return self.url

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open files, connections and threads; load what must be loaded."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Flush everything acknowledged and release resources."""

    def info(self) -> dict[str, int | float | str]:
        """Container-specific counters for ``stats``."""
        return {}

    @abstractmethod
    def load(self, sid: bytes, now: float) -> Step[dict[bytes, bytes] | None]:
        """The session's pairs, refreshing its idle expiry; None if absent or expired."""

    @abstractmethod
    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        """Store a new session, with its own idle lifetime ``ttl`` if given (as
        :meth:`set_ttl` would give it, in the same step); False (and nothing changed) if the
        id exists."""

    @abstractmethod
    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        """Replace an existing session's pairs; False if it is absent or expired."""

    @abstractmethod
    async def delete(self, sid: bytes, now: float) -> bool:
        """Remove a session; False if it was absent or expired."""

    @abstractmethod
    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        """Move a session to a new id atomically; False if ``old`` is absent or ``new`` taken."""

    @abstractmethod
    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        """Seconds until the session expires; None if absent or expired."""

    @abstractmethod
    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        """Set the session's idle lifetime and restart it from ``now``; False if absent."""

    @abstractmethod
    async def purge_expired(self, now: float) -> int:
        """Reclaim expired sessions; return how many."""

    @abstractmethod
    async def gc(self, idle: float, now: float) -> int:
        """Delete sessions not accessed for more than ``idle`` seconds; return how many."""

    @abstractmethod
    async def count(self, now: float) -> int:
        """How many live sessions there are."""

    @abstractmethod
    async def peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        """The session's pairs and seconds left, without counting as an access."""

    @abstractmethod
    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        """Up to ``count`` live session ids from position ``cursor``, and the next cursor (0
        when done).  Like Redis's SCAN: ids added or removed meanwhile may be missed or seen
        twice."""


class InlineStorage(Storage):
    """A container that works in memory and never waits: the daemon calls the synchronous
    twins :meth:`load_now` and :meth:`save_now` on its per-line path instead of running a
    coroutine per command (see ``server/sessions/strategy.py``)."""

    @abstractmethod
    def load_now(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        """:meth:`load`, synchronously."""

    @abstractmethod
    def save_now(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        """:meth:`save`, synchronously."""

    @abstractmethod
    def get_ttl_now(self, sid: bytes, now: float) -> float | None:
        """:meth:`get_ttl`, synchronously (a ``withttl`` reply asks it after the access)."""


class SharedStorage(Storage):
    """A container several daemons may use at once.  It also keeps the session locks (leases
    of the store's clock, held under a token per holder) and the user index, so that nothing
    shared lives in one daemon's memory; a lock holder's save is fenced by its token."""

    @abstractmethod
    async def lock_acquire(self, sid: bytes, token: bytes, lease: float) -> bool:
        """Take the session's lock for ``token`` if nobody holds it (or the holder's lease
        lapsed), for ``lease`` seconds of the store's clock."""

    @abstractmethod
    def lock_and_load(
        self, sid: bytes, token: bytes, lease: float, now: float
    ) -> Step[tuple[bool, dict[bytes, bytes] | None] | None]:
        """:meth:`lock_acquire` and, if it succeeded, :meth:`load`, in one round trip: (taken,
        the session's pairs or None when absent); None for an id the store cannot hold (the
        caller then takes the lock and loads separately)."""

    @abstractmethod
    async def lock_renew(self, held: list[tuple[bytes, bytes]], lease: float) -> list[bool]:
        """Extend each ``(sid, token)`` lock still held under that token by ``lease`` seconds;
        for each, whether it still was."""

    @abstractmethod
    async def lock_release(self, sid: bytes, token: bytes) -> None:
        """Release the lock if ``token`` still holds it."""

    @abstractmethod
    def save_and_release(
        self, sid: bytes, token: bytes, data: dict[bytes, bytes], now: float, ttl: int | None
    ) -> Step[bool]:
        """A lock holder's save: replace the pairs (and give the session the idle lifetime
        ``ttl``, if given) while ``token`` still holds its lock, then release the lock; False
        (released too) if the session is absent or expired.  Raises :class:`LockLost`, and
        changes nothing, when the lock is no longer ``token``'s (its lease lapsed and another
        daemon may hold it), so that a stalled daemon never overwrites the next holder's work;
        a :class:`StorageError` leaves the lock as it was, for the holder to retry."""

    def apply(
        self,
        sid: bytes,
        changes: dict[bytes, bytes],
        removed: list[bytes],
        *,
        max_keys: int,
        max_session: int,
        token: bytes | None,
        now: float,
        ttl: int | None = None,
    ) -> Step[int | None]:
        """Set ``changes`` and remove ``removed`` in one step, as a writer taking the lock,
        loading, saving and unlocking would, if the session's lock is free (or held under
        ``token`` by nobody in particular: a lock this daemon keeps a moment after its
        release), giving the session the idle lifetime ``ttl`` if given.  Returns
        :data:`APPLIED`, :data:`APPLY_ABSENT` (absent or expired: nothing created),
        :data:`APPLY_LOCKED` (someone holds the lock: queue for it instead),
        :data:`APPLY_TOO_MANY_KEYS` or :data:`APPLY_TOO_LARGE` (nothing changed); None when
        the container has no such step (then the caller takes the lock)."""
        return ready(None)

    @abstractmethod
    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        """The ids of the sessions that name ``user`` (see :func:`user_id`), live ones at
        least: callers check each before acting on it."""


@runtime_checkable
class WriteBehind(Protocol):
    """A container that acknowledges writes before they are durable."""

    def barrier(self) -> Barrier | None:
        """A :class:`Barrier` that settles once every write accepted so far is durable.

        Containers that acknowledge writes before they reach disk (write-behind) return the
        barrier of the batch being assembled; the daemon holds back the reply to a write until
        it settles.  ``None`` means writes are durable (or volatile) as soon as they return.
        """


@runtime_checkable
class Backup(Protocol):
    """A container that can copy itself consistently while it serves (the embedded store)."""

    async def backup(self, path: str) -> None:
        """Copy everything acknowledged so far into the new or empty file ``path``."""


async def ready(value: _T) -> _T:
    """A :data:`Step` whose outcome is known already (an id no store could hold, say)."""
    return value
