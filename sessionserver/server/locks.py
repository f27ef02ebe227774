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
import time
from collections import deque
from typing import Protocol

__all__ = ["LocalLocks", "LockOwner"]


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

    def _time_out(self, fut: asyncio.Future[bool]) -> None:
        if not fut.done():
            self.timeouts_total += 1
            fut.set_result(False)

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
