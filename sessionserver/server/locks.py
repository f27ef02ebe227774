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
from collections import deque
from typing import Protocol

__all__ = ["LocalLocks", "LockOwner"]


class LockOwner(Protocol):
    def lock_lost(self, sid: bytes) -> None:
        """The owner's lease on ``sid`` expired and the lock was taken away."""


class _Lock:
    __slots__ = ("owner", "since", "waiters")

    def __init__(self, owner: LockOwner, since: float) -> None:
        self.owner = owner
        self.since = since
        # Created on the first waiter: most locks are never contended.
        self.waiters: deque[tuple[LockOwner, asyncio.Future[bool], asyncio.TimerHandle]] | None = (
            None
        )


class LocalLocks:
    """The lock table of one daemon."""

    def __init__(self, *, timeout: float, lease: float) -> None:
        self.timeout = timeout
        self.lease = lease
        self._locks: dict[bytes, _Lock] = {}
        self.waits_total = 0
        self.timeouts_total = 0
        self.leases_expired_total = 0

    def __len__(self) -> int:
        return len(self._locks)

    def waiting(self) -> int:
        """Owners currently queued for a lock."""
        return sum(
            sum(1 for _, fut, _ in lock.waiters if not fut.done())
            for lock in self._locks.values()
            if lock.waiters
        )

    def acquire(self, sid: bytes, owner: LockOwner, now: float) -> asyncio.Future[bool] | None:
        """Take the lock, or queue for it.

        Returns:
            None when the lock is now held by ``owner`` (or already was); otherwise a future
            that resolves to True once the lock is handed to ``owner`` or to False when the
            wait exceeds ``timeout``.  Cancelling the future leaves the queue.
        """
        lock = self._locks.get(sid)
        if lock is None:
            self._locks[sid] = _Lock(owner, now)
            return None
        if lock.owner is owner:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(self.timeout, self._time_out, fut)
        if lock.waiters is None:
            lock.waiters = deque()
        lock.waiters.append((owner, fut, timer))
        self.waits_total += 1
        return fut

    def holds(self, sid: bytes, owner: LockOwner) -> bool:
        lock = self._locks.get(sid)
        return lock is not None and lock.owner is owner

    def release(self, sid: bytes, owner: LockOwner, now: float) -> None:
        """Release ``owner``'s lock on ``sid``; a no-op if ``owner`` does not hold it."""
        lock = self._locks.get(sid)
        if lock is not None and lock.owner is owner:
            self._hand_on(sid, lock, now)

    def _hand_on(self, sid: bytes, lock: _Lock, now: float) -> None:
        waiters = lock.waiters
        while waiters:  # None or empty: nobody waits
            owner, fut, timer = waiters.popleft()
            timer.cancel()
            if not fut.done():
                lock.owner = owner
                lock.since = now
                fut.set_result(True)
                return
        del self._locks[sid]

    def _time_out(self, fut: asyncio.Future[bool]) -> None:
        if not fut.done():
            self.timeouts_total += 1
            fut.set_result(False)

    def expire_leases(self, now: float) -> int:
        """Take locks away from holders past their lease; return how many."""
        expired = [
            (sid, lock) for sid, lock in self._locks.items() if now - lock.since > self.lease
        ]
        for sid, lock in expired:
            self.leases_expired_total += 1
            lock.owner.lock_lost(sid)
            if self._locks.get(sid) is lock:
                self._hand_on(sid, lock, now)
        return len(expired)
