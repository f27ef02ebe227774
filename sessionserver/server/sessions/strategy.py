"""How the session manager reaches its store and its locks, chosen once when the daemon starts.

Every request phase the manager carries out is a short sequence of the primitives below; a
strategy implements them for one kind of store, in as few store calls as that store allows:

- :class:`LocalStrategy`: the daemon owns the store alone (``file://``: any container whose
  calls may wait on a thread); locks and the user index live in this daemon's memory.
- :class:`InlineStrategy`: the same for a store whose every call completes at once
  (``memory://``, the embedded default's index): the primitives call its synchronous twins and
  return plain values.  Nothing can run between two of its calls, so a one-command write needs
  no lock while nobody holds one: the same steps, made cheaper.
- :class:`SharedStrategy`: several daemons share the store (Redis, PostgreSQL); the locks and
  the user index live in the store, and a phase is one round trip where the store can do it.

A primitive returns its outcome, or a future of it when it has to wait (see ``eager.then``):
the session's pairs, a flag, or a protocol :class:`Err` the client hears of (``LOCKED``, a
limit).  Store failures raise :class:`StorageError` (at once or through the future), and a
shared store's fenced save raises :class:`LockLost`.  No primitive touches a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from ...protocol.replies import LOCKED, OPEN_FAILED, SESSION_TOO_LARGE, TOO_MANY_KEYS, Err
from ...storage import InlineStorage, LockLost, SharedStorage, Storage
from ...storage.base import APPLIED, APPLY_ABSENT, APPLY_TOO_LARGE, APPLY_TOO_MANY_KEYS, WriteBehind
from ...storage.worker import Barrier
from ..eager import RunningLoop, eager, resolve, then
from .limits import Limits, apply_changes, check_changes
from .locks import NOT_LOADED, LocalLocks, LockOwner, SharedLocks
from .users import UserIndex

__all__ = ["InlineStrategy", "LocalStrategy", "SharedStrategy", "choose"]

Pairs = dict[bytes, bytes]
#: An outcome, or a future of it.
Maybe = Any

#: What a shared store's one-step write says, as the reply of the limit it refused.
_APPLY_REPLIES = {APPLY_TOO_MANY_KEYS: TOO_MANY_KEYS, APPLY_TOO_LARGE: SESSION_TOO_LARGE}


def _no_barrier() -> None:
    """Writes are durable (or volatile) as soon as they return."""
    return None


def _barrier(store: Storage) -> Callable[[], Barrier | None]:
    return store.barrier if isinstance(store, WriteBehind) else _no_barrier


class _Tasks:
    """Runs each coroutine as a Task of the daemon's loop (found once, see ``RunningLoop``);
    a future (a store call that needs no coroutine) is already running."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop = RunningLoop()

    def __call__(self, coro: Coroutine[Any, Any, Any] | asyncio.Future[Any]) -> asyncio.Future[Any]:
        if isinstance(coro, asyncio.Future):
            return coro
        return self._loop().create_task(coro)


class LocalStrategy:
    """A store this daemon owns alone; locks and the user index in this daemon's memory."""

    def __init__(self, store: Storage, *, lock_timeout: float, lock_lease: float) -> None:
        self.store = store
        self.locks: LocalLocks | SharedLocks = LocalLocks(timeout=lock_timeout, lease=lock_lease)
        self.users: UserIndex | None = UserIndex(store.options.user_keys)
        store.events = self.users
        #: How coroutines run: inline until they really wait (see ``eager``).
        self.run: Callable[[Coroutine[Any, Any, Any] | asyncio.Future[Any]], Any] = eager
        self.barrier: Callable[[], Barrier | None] = _barrier(store)

    # -- locks ----------------------------------------------------------------------------------

    def take(self, owner: LockOwner, sid: bytes, now: float) -> Maybe:
        """Take ``sid``'s write lock for ``owner``, waiting in arrival order: True, or False
        when the wait exceeded the lock timeout."""
        waiter = self.locks.acquire(sid, owner, now)
        return True if waiter is None else self.run(self._granted(owner, sid, waiter))

    async def _granted(self, owner: LockOwner, sid: bytes, waiter: asyncio.Future[bool]) -> bool:
        try:
            return await waiter
        except BaseException:
            self.locks.release(sid, owner)  # granted meanwhile, or not: release by ownership
            raise

    def unlock(self, owner: LockOwner, sid: bytes) -> None:
        self.locks.release(sid, owner)

    # -- request phases -------------------------------------------------------------------------

    def read(self, sid: bytes, now: float) -> Maybe:
        """The committed pairs (an access: the idle expiry slides); None if absent."""
        return self.run(self.store.load(sid, now))

    def lock(self, owner: LockOwner, sid: bytes, now: float) -> Maybe:
        """Take the lock and load: the pairs, None when the session is absent (the lock is
        held all the same: the caller may create it) or ``LOCKED`` (not held)."""
        return self.run(self._lock(owner, sid, self.locks.acquire(sid, owner, now), now))

    async def _lock(
        self, owner: LockOwner, sid: bytes, waiter: asyncio.Future[bool] | None, now: float
    ) -> Pairs | Err | None:
        if waiter is not None and not await self._granted(owner, sid, waiter):
            return LOCKED
        try:
            return await self._load_locked(owner, sid, now)
        except BaseException:
            self.unlock(owner, sid)
            raise

    async def _load_locked(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        return await self.store.load(sid, now)

    def save(self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None) -> Maybe:
        """Save a lock holder's pairs and unlock: True, or False (unlocked too) if the session
        went away meanwhile.  A failed save raises and keeps the lock: the holder may retry."""
        return self.run(self._save(owner, sid, data, now, ttl))

    async def _save(
        self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None
    ) -> bool:
        store = self.store
        saved = await store.save(sid, data, now)
        if saved and ttl is not None:
            saved = await store.set_ttl(sid, ttl, now)
        self.unlock(owner, sid)
        return saved

    def create(self, sid: bytes, data: Pairs, now: float, ttl: int | None) -> Maybe:
        """Store a new session: True, or False if the id is taken."""
        return self.run(self._create(sid, data, now, ttl))

    async def _create(self, sid: bytes, data: Pairs, now: float, ttl: int | None) -> bool:
        return await self.store.create(sid, data, now, ttl)

    def write(
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
    ) -> Maybe:
        """A one-command write: lock, load, apply, save, unlock.  None when saved, True when
        ``create`` made the session, else the reply that says why not."""
        return self.run(self._write(owner, sid, changes, removed, now, ttl, limits, create))

    async def _write(
        self,
        owner: LockOwner,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        now: float,
        ttl: int | None,
        limits: Limits,
        create: bool,
    ) -> Err | bool | None:
        data = await self._lock(owner, sid, self.locks.acquire(sid, owner, now), now)
        if isinstance(data, Err):
            return data
        try:
            if data is None and not create:
                return OPEN_FAILED
            result = apply_changes(limits, data or {}, changes, removed)
            if isinstance(result, Err):
                return result
            if data is None:
                return True if await self._create(sid, result, now, ttl) else OPEN_FAILED
            return None if await self._save(owner, sid, result, now, ttl) else OPEN_FAILED
        finally:
            self.unlock(owner, sid)

    # -- whole sessions -------------------------------------------------------------------------

    def delete(self, sid: bytes, now: float) -> Maybe:
        return self.run(self.store.delete(sid, now))

    def rename(self, old: bytes, new: bytes, now: float) -> Maybe:
        return self.run(self.store.rename(old, new, now))

    def set_ttl(self, sid: bytes, ttl: int, now: float) -> Maybe:
        return self.run(self.store.set_ttl(sid, ttl, now))

    def get_ttl(self, sid: bytes, now: float) -> Maybe:
        return self.run(self.store.get_ttl(sid, now))

    def peek(self, sid: bytes, now: float) -> Maybe:
        return self.run(self.store.peek(sid, now))

    def scan(self, cursor: int, count: int, now: float) -> Maybe:
        return self.run(self.store.scan(cursor, count, now))

    def gc(self, idle: float, now: float) -> Maybe:
        return self.run(self.store.gc(idle, now))

    def count(self, now: float) -> Maybe:
        return self.run(self.store.count(now))

    def user_sessions(self, user: bytes, now: float) -> Maybe:
        """The ids of the sessions that name ``user`` (some may have just expired)."""
        assert self.users is not None
        return self.users.sessions(user)

    # -- housekeeping ---------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Expire lock leases and reclaim expired sessions (the daemon's housekeeping)."""
        self.locks.expire_leases(now)
        await self.store.purge_expired(now)

    async def close(self) -> None:
        """Let go of what other daemons could wait for (nothing, here)."""


class InlineStrategy(LocalStrategy):
    """A local store that never waits: the request phases call its synchronous twins."""

    store: InlineStorage

    def read(self, sid: bytes, now: float) -> Maybe:
        return self.store.load_now(sid, now)

    def lock(self, owner: LockOwner, sid: bytes, now: float) -> Maybe:
        waiter = self.locks.acquire(sid, owner, now)
        if waiter is not None:
            return self.run(self._lock(owner, sid, waiter, now))
        try:
            return self.store.load_now(sid, now)
        except BaseException:
            self.unlock(owner, sid)
            raise

    async def _load_locked(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        return self.store.load_now(sid, now)

    def get_ttl(self, sid: bytes, now: float) -> Maybe:
        return self.store.get_ttl_now(sid, now)

    def save(self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None) -> Maybe:
        if ttl is not None:
            return super().save(owner, sid, data, now, ttl)
        saved = self.store.save_now(sid, data, now)
        self.unlock(owner, sid)
        return saved

    def write(
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
    ) -> Maybe:
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
        return super().write(
            owner, sid, changes, removed, now, ttl=ttl, limits=limits, create=create
        )


class SharedStrategy(LocalStrategy):
    """Several daemons on one store: locks and the user index live in the store."""

    store: SharedStorage
    locks: SharedLocks

    def __init__(self, store: SharedStorage, *, lock_timeout: float, lock_lease: float) -> None:
        self.store = store
        self.locks = SharedLocks(store, timeout=lock_timeout, lease=lock_lease)
        self.users = None  # kept by the store itself, for every daemon
        # Each store call runs as a Task: it waits on the network in any case.
        self.run = _Tasks()
        self.barrier = _barrier(store)

    # The request phases below are chains of callbacks on the store's futures, not coroutines
    # (a Task per phase would cost more than the rest of the phase on the daemon's side): the
    # same steps as LocalStrategy's, in one store call each where nobody else holds the lock.

    def lock(self, owner: LockOwner, sid: bytes, now: float) -> Maybe:
        waiter = self.locks.acquire(sid, owner, now)
        if waiter is None:  # held here already: the store lock with it
            return self._locked(owner, sid, now, True)
        return then(waiter, partial(self._locked, owner, sid, now))

    def _locked(self, owner: LockOwner, sid: bytes, now: float, granted: bool) -> Maybe:
        if not granted:
            return LOCKED
        # The store may have loaded the pairs in the step that took its lock.
        data = self.locks.take_loaded(sid, owner)
        if data is not NOT_LOADED:
            return data
        return then(self.run(self.store.load(sid, now)), _same, partial(self._unlocked, owner, sid))

    def _unlocked(self, owner: LockOwner, sid: bytes, exc: BaseException) -> Any:
        self.unlock(owner, sid)
        raise exc

    async def _load_locked(self, owner: LockOwner, sid: bytes, now: float) -> Pairs | None:
        return await resolve(self._locked(owner, sid, now, True))  # type: ignore[no-any-return]

    def save(self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None) -> Maybe:
        # One store call: the save, fenced by this daemon's token, its lifetime and the release.
        locks = self.locks
        token = locks.token(sid)
        if token is None:  # the lease lapsed: another daemon may hold the lock
            return self.run(_fail(LockLost("the session's lock lapsed")))
        saved = self.run(self.store.save_and_release(sid, token, data, now, ttl))
        return then(saved, partial(self._released, owner, sid, token))

    def _released(self, owner: LockOwner, sid: bytes, token: bytes, saved: bool) -> bool:
        self.locks.released_in_store(sid, token)
        self.unlock(owner, sid)
        return saved

    async def _save(
        self, owner: LockOwner, sid: bytes, data: Pairs, now: float, ttl: int | None
    ) -> bool:
        return await resolve(self.save(owner, sid, data, now, ttl))  # type: ignore[no-any-return]

    def write(
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
    ) -> Maybe:
        bad = check_changes(limits, changes)
        if bad is not None:
            return bad
        locked = partial(self._write, owner, sid, changes, removed, now, ttl, limits, create)
        locks = self.locks
        if locks.held(sid):
            return self.run(locked())
        # While nobody here holds the lock, the store may apply the write in one step (one
        # round trip instead of four: lock, load, save, unlock); else queue for the lock.
        code = self.store.apply(
            sid,
            changes,
            removed,
            max_keys=limits.max_keys,
            max_session=limits.max_session,
            token=locks.idle_token(sid),
            now=now,
            ttl=ttl,
        )
        return then(self.run(code), partial(self._applied, locked, create))

    def _applied(
        self, locked: Callable[[], Coroutine[Any, Any, Any]], create: bool, code: int | None
    ) -> Maybe:
        if code == APPLIED:
            return None
        if code in _APPLY_REPLIES:
            return _APPLY_REPLIES[code]
        if code == APPLY_ABSENT and not create:
            return OPEN_FAILED
        return self.run(locked())  # locked by someone, or to be created: take the lock

    def user_sessions(self, user: bytes, now: float) -> Maybe:
        return self.run(self.store.user_sessions(user, now))

    async def close(self) -> None:
        await self.locks.close()  # other daemons need not wait for the leases to lapse


def _same(value: Any) -> Any:
    return value


async def _fail(exc: BaseException) -> Any:
    raise exc


def choose(store: Storage, *, lock_timeout: float, lock_lease: float) -> LocalStrategy:
    """The strategy for ``store``, decided once, when the daemon starts, by what it is."""
    if isinstance(store, SharedStorage):
        return SharedStrategy(store, lock_timeout=lock_timeout, lock_lease=lock_lease)
    if isinstance(store, InlineStorage):
        return InlineStrategy(store, lock_timeout=lock_timeout, lock_lease=lock_lease)
    return LocalStrategy(store, lock_timeout=lock_timeout, lock_lease=lock_lease)
