"""How the session manager reaches its store and its locks, chosen once when the daemon starts.

Every request phase the manager carries out is a short sequence of the primitives below; a
strategy implements them for one kind of store, in as few store calls as that store allows:

- :class:`LocalStrategy`: the daemon owns the store alone (``file://``; any container whose
  calls may wait on a thread); locks and the user index live in this daemon's memory.
- :class:`InlineStrategy`: the same for a store whose every call completes at once
  (``memory://``, the embedded default's index).  Nothing can run between two of its calls, so
  a one-command write needs no lock while nobody holds one: the same steps, made cheaper.
- :class:`SharedStrategy`: several daemons share the store (Redis, PostgreSQL); the locks and
  the user index live in the store, and a phase is one round trip where the store can do it.

Primitives return the session's pairs or a protocol :class:`Err` for an outcome the client
hears of (``LOCKED``, a limit); store failures raise :class:`StorageError`, and a shared store's
fenced save raises :class:`LockLost`.  No primitive touches a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ...protocol.replies import LOCKED, OPEN_FAILED, SESSION_TOO_LARGE, TOO_MANY_KEYS, Err
from ...storage import Storage
from ...storage.base import APPLIED, APPLY_ABSENT, APPLY_TOO_LARGE, APPLY_TOO_MANY_KEYS
from ...storage.worker import Barrier
from ..eager import eager
from .limits import Limits, apply_changes
from .locks import NOT_LOADED, LocalLocks, LockOwner, SharedLocks
from .users import UserIndex

__all__ = ["InlineStrategy", "LocalStrategy", "SharedStrategy", "Strategy", "choose"]

Pairs = dict[bytes, bytes]

#: What a shared store's one-step write says, as the reply of the limit it refused.
_APPLY_REPLIES = {APPLY_TOO_MANY_KEYS: TOO_MANY_KEYS, APPLY_TOO_LARGE: SESSION_TOO_LARGE}


def _as_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro)


class LocalStrategy:
    """A store this daemon owns alone; locks and the user index in this daemon's memory."""

    def __init__(self, store: Storage, *, lock_timeout: float, lock_lease: float) -> None:
        self.store = store
        self.locks: LocalLocks | SharedLocks = LocalLocks(timeout=lock_timeout, lease=lock_lease)
        self.users = UserIndex(store.options.user_keys)
        store.events = self.users
        #: How the manager's coroutines run: inline until they really wait (see ``eager``).
        self.run: Callable[[Coroutine[Any, Any, Any]], Any] = eager
        self.barrier: Callable[[], Barrier | None] = store.barrier

    # -- locks ----------------------------------------------------------------------------------

    async def take(self, owner: LockOwner, sid: bytes, now: float) -> bool:
        """Take ``sid``'s write lock for ``owner``, waiting in arrival order; False when the
        wait exceeded the lock timeout."""
        locks = self.locks
        waiter = locks.acquire(sid, owner, now)
        if waiter is None:
            return True
        try:
            return await waiter
        except BaseException:
            locks.release(sid, owner)  # granted meanwhile, or not: release by ownership
            raise

    def unlock(self, owner: LockOwner, sid: bytes) -> None:
        self.locks.release(sid, owner)

    def held(self, sid: bytes) -> bool:
        """Whether anyone in this daemon holds ``sid``'s lock."""
        return self.locks.held(sid)

    # -- request phases -------------------------------------------------------------------------

    async def read(self, sid: bytes, now: float) -> Pairs | None:
        """The committed pairs (an access: the idle expiry slides); None if absent."""
        return await self.store.load(sid, now)

    async def lock(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | Err | None:
        """Take the lock and load: the pairs, None when the session is absent (the lock is
        held all the same: the caller may create it) or ``LOCKED`` (not held)."""
        if not await self.take(owner, sid, now):
            return LOCKED
        try:
            return await self._loaded(owner, sid, now)
        except BaseException:
            self.unlock(owner, sid)
            raise

    async def _loaded(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        return await self.store.load(sid, now)

    async def save(
        self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None = None
    ) -> bool:
        """Save a lock holder's pairs and unlock; False (unlocked too) if the session went away
        meanwhile.  A failed save raises and keeps the lock, so the holder may retry."""
        saved = await self.store.save(sid, data, now)
        if saved and ttl is not None:
            saved = await self.store.set_ttl(sid, ttl, now)
        self.unlock(owner, sid)
        return saved

    async def create(self, sid: bytes, data: Pairs, now: float, ttl: int | None) -> bool:
        """Store a new session; False if the id is taken."""
        created = await self.store.create(sid, data, now)
        if created and ttl is not None:
            await self.store.set_ttl(sid, ttl, now)
        return created

    async def write(
        self,
        owner: LockOwner,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        now: float,
        *,
        ttl: int | None,
        limits: Limits,
        create: bool,
    ) -> Err | bool | None:
        """A one-command write: lock, load, apply, save, unlock.  None when saved, True when
        ``create`` made the session, else the reply that explains why not."""
        data = await self.lock(owner, sid, now)
        if isinstance(data, Err):
            return data
        try:
            if data is None and not create:
                return OPEN_FAILED
            result = apply_changes(limits, data or {}, changes, removed)
            if isinstance(result, Err):
                return result
            if data is None:
                return True if await self.create(sid, result, now, ttl) else OPEN_FAILED
            return None if await self.save(owner, sid, result, now, ttl) else OPEN_FAILED
        finally:
            self.unlock(owner, sid)

    # -- whole sessions -------------------------------------------------------------------------

    async def delete(self, sid: bytes, now: float) -> bool:
        return await self.store.delete(sid, now)

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        return await self.store.rename(old, new, now)

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        return await self.store.set_ttl(sid, ttl, now)

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        return await self.store.get_ttl(sid, now)

    async def peek(self, sid: bytes, now: float) -> tuple[Pairs, float] | None:
        return await self.store.peek(sid, now)

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        return await self.store.scan(cursor, count, now)

    async def gc(self, idle: float, now: float) -> int:
        return await self.store.gc(idle, now)

    async def count(self, now: float) -> int:
        return await self.store.count(now)

    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        """The ids of the sessions that name ``user`` (some may have just expired)."""
        return self.users.sessions(user)

    def users_count(self) -> int | None:
        """How many users the index knows, where this daemon keeps it."""
        return len(self.users)

    # -- housekeeping ---------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Expire lock leases and reclaim expired sessions (the daemon's housekeeping)."""
        self.locks.expire_leases(now)
        await self.store.purge_expired(now)

    async def close(self) -> None:
        """Let go of what other daemons could wait for (nothing, here)."""


class InlineStrategy(LocalStrategy):
    """A local store that never waits: the primitives call its synchronous twins."""

    async def read(self, sid: bytes, now: float) -> Pairs | None:
        return self.store.load_now(sid, now)

    async def _loaded(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        return self.store.load_now(sid, now)

    async def save(
        self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None = None
    ) -> bool:
        saved = self.store.save_now(sid, data, now)
        if saved and ttl is not None:
            saved = await self.store.set_ttl(sid, ttl, now)
        self.unlock(owner, sid)
        return saved

    async def write(
        self,
        owner: LockOwner,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        now: float,
        *,
        ttl: int | None,
        limits: Limits,
        create: bool,
    ) -> Err | bool | None:
        # Nothing can come between these calls on the event loop, so while nobody holds the
        # lock there is no need to take it: check and go.
        if ttl is None and not self.locks.held(sid):
            store = self.store
            data = store.load_now(sid, now)
            if data is not None:
                result = apply_changes(limits, data, changes, removed)
                if isinstance(result, Err):
                    return result
                return None if store.save_now(sid, result, now) else OPEN_FAILED
        return await super().write(
            owner, sid, changes, removed, now, ttl=ttl, limits=limits, create=create
        )


class SharedStrategy(LocalStrategy):
    """Several daemons on one store: locks and the user index live in the store."""

    def __init__(self, store: Storage, *, lock_timeout: float, lock_lease: float) -> None:
        self.store = store
        self.locks = SharedLocks(store, timeout=lock_timeout, lease=lock_lease)
        # The store's drivers need a Task around each call (their timeouts do).
        self.run = _as_task
        self.barrier = store.barrier

    async def _loaded(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        # The store may have loaded the pairs in the step that took its lock.
        data = self.locks.take_loaded(sid, owner)
        return await self.store.load(sid, now) if data is NOT_LOADED else data

    async def write(
        self,
        owner: LockOwner,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        now: float,
        *,
        ttl: int | None,
        limits: Limits,
        create: bool,
    ) -> Err | bool | None:
        # While nobody here holds the lock, the store may apply the write in one step (one
        # round trip instead of four: lock, load, save, unlock); else queue for the lock.
        locks = self.locks
        if not locks.held(sid):
            code = await self.store.apply(
                sid,
                changes,
                removed,
                max_keys=limits.max_keys,
                max_session=limits.max_session,
                token=locks.idle_token(sid),
                now=now,
            )
            if code == APPLIED:
                if ttl is not None and not await self.store.set_ttl(sid, ttl, now):
                    return OPEN_FAILED
                return None
            if code in _APPLY_REPLIES:
                return _APPLY_REPLIES[code]
            if code == APPLY_ABSENT and not create:
                return OPEN_FAILED
        return await super().write(
            owner, sid, changes, removed, now, ttl=ttl, limits=limits, create=create
        )

    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        return await self.store.user_sessions(user, now)

    def users_count(self) -> int | None:
        return None  # a shared store's index is not counted here

    async def tick(self, now: float) -> None:
        self.locks.expire_leases(now)
        await self.store.purge_expired(now)

    async def close(self) -> None:
        assert isinstance(self.locks, SharedLocks)
        await self.locks.close()  # other daemons need not wait for the leases to lapse


Strategy = LocalStrategy


def choose(store: Storage, *, lock_timeout: float, lock_lease: float) -> LocalStrategy:
    """The strategy for ``store``, decided once, when the daemon starts."""
    if store.shared:
        cls: type[LocalStrategy] = SharedStrategy
    elif store.inline:
        cls = InlineStrategy
    else:
        cls = LocalStrategy
    return cls(store, lock_timeout=lock_timeout, lock_lease=lock_lease)
