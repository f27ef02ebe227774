"""Per-session write locks for one daemon: FIFO waiters, a bounded wait and a lease.

A lock is held by an owner object (a connection's state).  ``acquire`` grants a free lock at
once and otherwise queues the owner; ``release`` hands the lock straight to the oldest waiter
that is still waiting, so a newcomer can never overtake the queue.  A waiter that waits longer
than ``timeout`` is told so (its future resolves to False) and skipped at the next hand-off.  A
holder that keeps a lock longer than ``lease`` loses it: :meth:`expire_leases`, run by the
daemon's housekeeping tick, revokes it, tells the owner and hands the lock on.

Only sessions that are locked or waited on have an entry, so an idle daemon holds nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ...storage import SharedStorage, StorageError
from ..eager import RunningLoop, chain

__all__ = ["NOT_LOADED", "STORE_LEASE", "LocalLocks", "LockOwner", "Locks", "SharedLocks"]

#: What :meth:`LocalLocks.take_loaded` says when the lock came without the session's pairs.
NOT_LOADED: Any = object()

logger = logging.getLogger(__name__)


class LockOwner(Protocol):
    def lock_lost(self, sid: bytes) -> None:
        """The owner's lease on ``sid`` expired and the lock was taken away."""


class LocalLocks:
    """The lock table of one daemon.

    Holders and waiters are kept apart: taking a free lock is one dict insert of a tuple, and
    only contended sessions get a queue.
    """

    def __init__(self, *, timeout: float, lease: float) -> None:
        self.timeout = timeout
        self.lease = lease
        self._holders: dict[bytes, tuple[LockOwner, float]] = {}
        self._queues: dict[
            bytes, deque[tuple[LockOwner, asyncio.Future[bool], asyncio.TimerHandle]]
        ] = {}
        self.waits_total = 0
        self.timeouts_total = 0
        self.leases_expired_total = 0
        #: Called with a session id whenever its lock becomes free (nobody holds it).
        self.on_free: Callable[[bytes], None] | None = None

    def __len__(self) -> int:
        return len(self._holders)

    def waiting(self) -> int:
        """Owners currently queued for a lock."""
        return sum(
            sum(1 for _, fut, _ in queue if not fut.done()) for queue in self._queues.values()
        )

    def acquire(self, sid: bytes, owner: LockOwner, now: float) -> asyncio.Future[bool] | None:
        """Take the lock, or queue for it.

        Returns:
            None when the lock is now held by ``owner`` (or already was); otherwise a future
            that resolves to True once the lock is handed to ``owner`` or to False when the
            wait exceeds ``timeout``.  Cancelling the future leaves the queue.
        """
        holder = self._holders.get(sid)
        if holder is None:
            self._holders[sid] = (owner, now)
            return None
        if holder[0] is owner:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(self.timeout, self._time_out, fut)
        queue = self._queues.get(sid)
        if queue is None:
            self._queues[sid] = queue = deque()
        queue.append((owner, fut, timer))
        self.waits_total += 1
        return fut

    def held(self, sid: bytes) -> bool:
        """Whether anyone holds the lock of ``sid``."""
        return sid in self._holders

    def holds(self, sid: bytes, owner: LockOwner) -> bool:
        holder = self._holders.get(sid)
        return holder is not None and holder[0] is owner

    def release(self, sid: bytes, owner: LockOwner) -> None:
        """Release ``owner``'s lock on ``sid``; a no-op if ``owner`` does not hold it."""
        holder = self._holders.get(sid)
        if holder is not None and holder[0] is owner:
            if sid in self._queues:
                self._hand_on(sid)
            else:
                del self._holders[sid]
                if self.on_free is not None:
                    self.on_free(sid)

    def _hand_on(self, sid: bytes) -> None:
        now = time.time()
        queue = self._queues[sid]
        while queue:
            owner, fut, timer = queue.popleft()
            timer.cancel()
            if not fut.done():
                self._holders[sid] = (owner, now)
                fut.set_result(True)
                if not queue:
                    del self._queues[sid]
                return
        del self._queues[sid]
        del self._holders[sid]
        if self.on_free is not None:
            self.on_free(sid)

    def _time_out(self, fut: asyncio.Future[bool]) -> None:
        if not fut.done():
            self.timeouts_total += 1
            fut.set_result(False)

    def take_loaded(self, sid: bytes, owner: LockOwner) -> Any:
        """The pairs loaded with the lock (a shared store may do both at once), or
        :data:`NOT_LOADED`: here, never."""
        return NOT_LOADED

    def idle_token(self, sid: bytes) -> bytes | None:
        """A store lock kept though nobody holds it: only shared stores have those."""
        return None

    def revoke(self, sid: bytes) -> None:
        """Take the lock from its holder (who is told) and hand it on."""
        holder = self._holders.get(sid)
        if holder is not None:
            holder[0].lock_lost(sid)
            self.release(sid, holder[0])

    def expire_leases(self, now: float) -> int:
        """Take locks away from holders past their lease; return how many."""
        lease = self.lease
        expired = [
            (sid, owner) for sid, (owner, since) in self._holders.items() if now - since > lease
        ]
        for sid, owner in expired:
            self.leases_expired_total += 1
            owner.lock_lost(sid)
            self.release(sid, owner)
        return len(expired)


#: Seconds a daemon's lock lives in a shared store unless renewed (a third of it between
#: renewals).  A daemon that dies holding locks loses them this long after its last renewal.
STORE_LEASE = 10.0
#: Seconds a daemon keeps a store lock that nobody here holds any more before releasing it:
#: the next request of the same user often follows at once, and then takes the lock back
#: without a round trip.  Other daemons' writers wait this much longer at most.
LINGER = 0.02


class SharedLocks:
    """The lock table of a daemon that shares its store with other daemons.

    Two levels.  This daemon's owners queue in a :class:`LocalLocks` (arrival order, bounded
    wait, the client lease ``lease``); the owner at its head also holds the session's lock in
    the store, under a random token with a short lease (``store_lease``) that a background task
    renews while the lock is held here.  Hand-offs between this daemon's owners keep the store
    lock; once nobody here holds or wants it, it is released in the store.  An owner whose
    session is locked by another daemon polls the store, backing off from 5 to 50 ms, until the
    lock comes free or its wait exceeds ``timeout`` (counted from its arrival, local queueing
    included).  A daemon that dies stops renewing: its locks lapse ``store_lease`` seconds after
    the last renewal.  A holder's save is fenced by the token
    (``SharedStorage.save_and_release``), so a daemon whose lease lapsed (a long pause, a
    partition) cannot overwrite the next holder.
    """

    def __init__(
        self,
        storage: SharedStorage,
        *,
        timeout: float,
        lease: float,
        store_lease: float | None = None,
    ) -> None:
        self.local = LocalLocks(timeout=timeout, lease=lease)
        self._loop = RunningLoop()
        #: What sets this daemon's lock tokens apart from every other's (see _new_token).
        self._name = secrets.token_hex(16).encode()
        self._tokens_made = itertools.count()
        self.local.on_free = self._free
        self.storage = storage
        self.timeout = timeout
        self.store_lease = store_lease if store_lease is not None else min(STORE_LEASE, lease / 3)
        #: sid -> the token under which this daemon holds the session's lock in the store
        self._tokens: dict[bytes, bytes] = {}
        #: Store locks nobody here holds, kept for LINGER seconds before their release.
        self._lingering: dict[bytes, bytes] = {}
        #: The pairs (or None: absent) loaded in the step that took a lock, for its owner.
        self._loaded: dict[tuple[bytes, LockOwner], dict[bytes, bytes] | None] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.store_timeouts_total = 0
        self.store_leases_lost_total = 0

    # -- what the stats and housekeeping read --------------------------------------------------

    def __len__(self) -> int:
        return len(self.local)

    def waiting(self) -> int:
        return self.local.waiting()

    @property
    def waits_total(self) -> int:
        return self.local.waits_total

    @property
    def timeouts_total(self) -> int:
        return self.local.timeouts_total + self.store_timeouts_total

    @property
    def leases_expired_total(self) -> int:
        return self.local.leases_expired_total + self.store_leases_lost_total

    def expire_leases(self, now: float) -> int:
        return self.local.expire_leases(now)

    # -- the LocalLocks interface --------------------------------------------------------------

    def held(self, sid: bytes) -> bool:
        return self.local.held(sid)

    def holds(self, sid: bytes, owner: LockOwner) -> bool:
        return self.local.holds(sid, owner)

    def acquire(self, sid: bytes, owner: LockOwner, now: float) -> asyncio.Future[bool] | None:
        """As :meth:`LocalLocks.acquire`; a future unless ``owner`` already holds the lock
        (taking it in the store is a round trip at least).  The future may raise
        :class:`~sessionserver.storage.StorageError` when the store cannot be reached."""
        waiter = self.local.acquire(sid, owner, now)
        loop = self._loop()
        deadline = loop.time() + self.timeout
        if waiter is None:
            if sid in self._tokens:
                # ``owner`` held it already: a fresh grant finds no token (``_free`` drops it).
                return None
            token = self._lingering.pop(sid, None)
            if token is not None:  # released here a moment ago: still ours in the store
                self._tokens[sid] = token
                return None
            return self._attempt(sid, owner, deadline)
        return loop.create_task(self._queued(sid, owner, waiter, deadline))

    def release(self, sid: bytes, owner: LockOwner) -> None:
        self._loaded.pop((sid, owner), None)  # taken with the lock but never used
        self.local.release(sid, owner)

    def take_loaded(self, sid: bytes, owner: LockOwner) -> Any:
        """The session as loaded when ``owner``'s lock was taken (fresher cannot be: nobody
        could write it since), None if it was absent, or :data:`NOT_LOADED`."""
        return self._loaded.pop((sid, owner), NOT_LOADED)

    def token(self, sid: bytes) -> bytes | None:
        """The token under which this daemon holds ``sid``'s lock in the store, if it does."""
        return self._tokens.get(sid)

    def released_in_store(self, sid: bytes, token: bytes) -> None:
        """The store released the lock held under ``token`` (a holder's save did): there is
        nothing left to keep or release when the holder lets go here."""
        if self._tokens.get(sid) == token:
            del self._tokens[sid]

    def idle_token(self, sid: bytes) -> bytes | None:
        """The token of a store lock this daemon still keeps though nobody here holds it."""
        return self._lingering.get(sid)

    # -- the store level -----------------------------------------------------------------------

    async def _queued(
        self, sid: bytes, owner: LockOwner, waiter: asyncio.Future[bool], deadline: float
    ) -> bool:
        """Wait in this daemon's queue, then for the store lock unless it came with the
        hand-off."""
        try:
            if not await waiter:
                return False  # timed out in this daemon's queue
        except BaseException:
            self._give_up(sid, owner, None)
            raise
        if sid in self._tokens:
            return True  # handed on within this daemon, store lock and all
        return await self._attempt(sid, owner, deadline)

    def _attempt(self, sid: bytes, owner: LockOwner, deadline: float) -> asyncio.Future[bool]:
        """The store lock: one attempt, loading the session with it where the store can, and
        no coroutine unless it is taken elsewhere and must be polled (or the store's step is
        a coroutine itself).  Whatever way this ends but holding the lock, it leaves nothing
        behind (see _give_up), cancellation included."""
        loop = self._loop()
        token = self._new_token()
        step = self.storage.lock_and_load(sid, token, self.store_lease, time.time())
        first = step if isinstance(step, asyncio.Future) else loop.create_task(step)
        outer: asyncio.Future[bool] = loop.create_future()

        def settle(done: asyncio.Future[tuple[bool, dict[bytes, bytes] | None] | None]) -> None:
            if outer.done() or done.cancelled():  # the caller went away meanwhile
                self._give_up(sid, owner, token)
                outer.cancel()
                return
            exc = done.exception()
            if exc is not None:
                self._give_up(sid, owner, token)
                outer.set_exception(exc)
                return
            both = done.result()
            if both is None:  # no lock-and-load for this id: take the lock alone
                rest: Coroutine[Any, Any, bool] = self._poll(sid, owner, token, deadline, True)
            elif both[0]:
                self._loaded[(sid, owner)] = both[1]
                self._hold(sid, token)
                outer.set_result(True)
                return
            else:
                rest = self._poll(sid, owner, token, deadline, False)
            chain(loop.create_task(rest), outer)

        def on_outer_done(_: asyncio.Future[bool]) -> None:
            if outer.cancelled():
                first.cancel()

        first.add_done_callback(settle)
        outer.add_done_callback(on_outer_done)
        return outer

    async def _poll(
        self, sid: bytes, owner: LockOwner, token: bytes, deadline: float, now: bool
    ) -> bool:
        """Try the store lock again and again (at once if ``now``), backing off, until it is
        taken or ``deadline`` passes."""
        loop = self._loop()
        delay = 0.005
        try:
            while not (now and await self._take(sid, owner, token)):
                now = True
                left = deadline - loop.time()
                if left <= 0:
                    self.store_timeouts_total += 1
                    self.local.release(sid, owner)
                    return False
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 0.05)
        except BaseException:
            self._give_up(sid, owner, token)
            raise
        self._hold(sid, token)
        return True

    def _hold(self, sid: bytes, token: bytes) -> None:
        self._tokens[sid] = token
        if self._renewer is None or self._renewer.done():
            self._renewer = self._loop().create_task(self._renew())

    def _give_up(self, sid: bytes, owner: LockOwner, token: bytes | None) -> None:
        """The store failed, or the wait was cancelled: leave nothing behind (the store lock
        under ``token`` may have been taken all the same)."""
        if token is not None and self._tokens.get(sid) != token:
            self._spawn(self._release_in_store(sid, token))
        self._loaded.pop((sid, owner), None)
        self.local.release(sid, owner)

    def _new_token(self) -> bytes:
        """A token no other lock holder has or had: this daemon's random name (made once; no
        ``getrandom()`` per lock) and a count.  Tokens fence saves between daemons, which trust
        each other, so they need to be unique, not unguessable."""
        return b"%s.%x" % (self._name, next(self._tokens_made))

    async def _take(self, sid: bytes, owner: LockOwner, token: bytes) -> bool:
        """One attempt at the store lock, loading the session with it where the store can."""
        both = await self.storage.lock_and_load(sid, token, self.store_lease, time.time())
        if both is None:
            return await self.storage.lock_acquire(sid, token, self.store_lease)
        taken, data = both
        if taken:
            self._loaded[(sid, owner)] = data
        return taken

    def _free(self, sid: bytes) -> None:
        if self._loaded:  # normally empty: an entry lives from the lock's step to its use
            for key in [key for key in self._loaded if key[0] == sid]:
                del self._loaded[key]
        token = self._tokens.pop(sid, None)
        if token is not None:
            self._lingering[sid] = token
            self._loop().call_later(LINGER, self._linger_over, sid, token)

    def _linger_over(self, sid: bytes, token: bytes) -> None:
        if self._lingering.get(sid) == token:
            del self._lingering[sid]
            self._spawn(self._release_in_store(sid, token))

    async def _release_in_store(self, sid: bytes, token: bytes) -> None:
        # Retried until it lands or the lease would have lapsed anyway, so that a store that
        # was away for a moment does not keep other daemons waiting for the whole lease.
        loop = self._loop()
        give_up = loop.time() + self.store_lease
        delay = 0.1
        while True:
            try:
                await self.storage.lock_release(sid, token)
                return
            except StorageError as exc:
                if loop.time() + delay >= give_up:
                    logger.warning("releasing a session lock in the store failed: %s", exc)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _renew(self) -> None:
        while self._tokens:
            await asyncio.sleep(self.store_lease / 3)
            held = list(self._tokens.items())
            if not held:
                break
            try:
                alive = await self.storage.lock_renew(held, self.store_lease)
            except StorageError as exc:
                logger.warning("renewing session locks in the store failed: %s", exc)
                continue
            for (sid, token), ok in zip(held, alive, strict=True):
                if not ok and self._tokens.get(sid) == token:
                    # Lapsed (this daemon stalled past the lease): another daemon may hold it.
                    del self._tokens[sid]
                    self.store_leases_lost_total += 1
                    self.local.revoke(sid)

    async def close(self) -> None:
        """Release every lock still held in the store (at shutdown, before the store closes)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for sid, token in [*self._tokens.items(), *self._lingering.items()]:
            self._spawn(self._release_in_store(sid, token))
        self._tokens.clear()
        self._lingering.clear()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


#: Either lock table (the dispatcher uses what both offer).
Locks = LocalLocks | SharedLocks
