"""The lock table of one daemon, in process: FIFO hand-off, bounded waits, leases."""

from __future__ import annotations

import pytest

from sessionserver.server.sessions.locks import LocalLocks

pytestmark = pytest.mark.anyio


class Owner:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lost: list[bytes] = []

    def lock_lost(self, sid: bytes) -> None:
        self.lost.append(sid)


async def test_a_free_lock_is_granted_at_once_and_again_to_its_holder() -> None:
    locks = LocalLocks(timeout=5, lease=30)
    a = Owner("a")
    assert locks.acquire(b"s", a, 0.0) is None
    assert locks.acquire(b"s", a, 0.0) is None
    assert locks.holds(b"s", a) and len(locks) == 1
    locks.release(b"s", a)
    assert not locks.held(b"s") and len(locks) == 0


async def test_waiters_are_served_in_arrival_order_and_a_newcomer_cannot_overtake() -> None:
    locks = LocalLocks(timeout=5, lease=30)
    a, b, c = Owner("a"), Owner("b"), Owner("c")
    locks.acquire(b"s", a, 0.0)
    fb = locks.acquire(b"s", b, 0.0)
    fc = locks.acquire(b"s", c, 0.0)
    assert fb is not None and fc is not None and locks.waiting() == 2
    locks.release(b"s", a)
    assert await fb is True and locks.holds(b"s", b) and not fc.done()
    locks.release(b"s", c)  # not the holder: nothing happens
    assert locks.holds(b"s", b)
    locks.release(b"s", b)
    assert await fc is True and locks.holds(b"s", c)
    assert locks.waits_total == 2


async def test_a_wait_past_the_timeout_resolves_false_and_is_skipped() -> None:
    locks = LocalLocks(timeout=0.01, lease=30)
    a, b, c = Owner("a"), Owner("b"), Owner("c")
    locks.acquire(b"s", a, 0.0)
    fb = locks.acquire(b"s", b, 0.0)
    assert fb is not None and await fb is False
    fc = locks.acquire(b"s", c, 0.0)
    assert fc is not None
    locks.release(b"s", a)
    assert await fc is True  # b gave up: c is next
    assert locks.timeouts_total == 1


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    locks = LocalLocks(timeout=5, lease=30)
    a, b, c = Owner("a"), Owner("b"), Owner("c")
    locks.acquire(b"s", a, 0.0)
    fb = locks.acquire(b"s", b, 0.0)
    fc = locks.acquire(b"s", c, 0.0)
    assert fb is not None and fc is not None
    fb.cancel()
    locks.release(b"s", a)
    assert await fc is True and locks.holds(b"s", c)


async def test_a_holder_past_its_lease_is_told_and_the_lock_handed_on() -> None:
    locks = LocalLocks(timeout=5, lease=10)
    a, b = Owner("a"), Owner("b")
    locks.acquire(b"s", a, 100.0)
    fb = locks.acquire(b"s", b, 105.0)
    assert locks.expire_leases(110.0) == 0  # exactly at the lease: still held
    assert locks.expire_leases(110.5) == 1
    assert a.lost == [b"s"] and fb is not None and await fb is True
    assert locks.holds(b"s", b) and locks.leases_expired_total == 1
    # the lease of a lock handed on runs from the hand-off, by the wall clock
    assert locks.expire_leases(111.0) == 0


async def test_nothing_is_kept_for_sessions_nobody_locks() -> None:
    locks = LocalLocks(timeout=5, lease=10)
    owners = [Owner(str(i)) for i in range(100)]
    for i, owner in enumerate(owners):
        assert locks.acquire(b"%d" % i, owner, 0.0) is None
    for i, owner in enumerate(owners):
        locks.release(b"%d" % i, owner)
    assert len(locks) == 0 and locks.waiting() == 0
