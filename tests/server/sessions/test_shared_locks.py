"""The lock table of a daemon on a shared store, in process: a store whose every answer the test
gives by hand (a future per call), so that what happens while a store call is in flight, fails
or is cancelled can be seen step by step."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from sessionserver.server.sessions.locks import NOT_LOADED, SharedLocks
from sessionserver.storage import SharedStorage, StorageError

from .test_locks import Owner

pytestmark = pytest.mark.anyio


class HandStore:
    """The lock calls of a shared store; each lock-and-load waits for the test's answer."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[bytes, bytes, asyncio.Future[Any]]] = asyncio.Queue()
        self.released: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()

    def lock_and_load(self, sid: bytes, token: bytes, lease: float, now: float) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.calls.put_nowait((sid, token, future))
        return future

    async def lock_renew(self, held: list[tuple[bytes, bytes]], lease: float) -> list[bool]:
        return [True] * len(held)

    async def lock_release(self, sid: bytes, token: bytes) -> None:
        self.released.put_nowait((sid, token))


async def soon(step: Any) -> Any:
    """What the table does next (it never takes long: a bound, so a broken table fails)."""
    return await asyncio.wait_for(step, 5)


def table(timeout: float = 5.0) -> tuple[SharedLocks, HandStore]:
    store = HandStore()
    return SharedLocks(cast(SharedStorage, store), timeout=timeout, lease=30), store


async def test_a_free_lock_is_taken_in_one_store_call_with_the_session_loaded() -> None:
    locks, store = table()
    a = Owner("a")
    waiter = locks.acquire(b"s", a, 0.0)
    assert waiter is not None and not waiter.done()
    sid, token, call = await soon(store.calls.get())
    assert sid == b"s" and locks.token(b"s") is None  # not ours until the store says so
    call.set_result((True, {b"k": b"v"}))
    assert await waiter is True
    assert locks.token(b"s") == token and locks.holds(b"s", a)
    assert locks.take_loaded(b"s", a) == {b"k": b"v"}
    assert locks.take_loaded(b"s", a) is NOT_LOADED  # handed over once
    assert store.calls.empty()
    await locks.close()


async def test_a_caller_gone_while_the_store_takes_the_lock_leaves_nothing_behind() -> None:
    locks, store = table()
    a, b = Owner("a"), Owner("b")
    waiter = locks.acquire(b"s", a, 0.0)
    assert waiter is not None
    _, token, call = await soon(store.calls.get())
    waiter.cancel()
    call.set_result((True, None))  # the store took it all the same
    assert await soon(store.released.get()) == (b"s", token)  # so it is released there
    assert locks.token(b"s") is None and not locks.held(b"s")
    # and the next owner starts afresh, with a token of its own
    again = locks.acquire(b"s", b, 0.0)
    assert again is not None
    _, other, call = await soon(store.calls.get())
    assert other != token
    call.set_result((True, None))
    assert await again is True and locks.holds(b"s", b)
    await locks.close()


async def test_a_store_failure_frees_the_lock_here_and_there() -> None:
    locks, store = table()
    a = Owner("a")
    waiter = locks.acquire(b"s", a, 0.0)
    assert waiter is not None
    _, token, call = await soon(store.calls.get())
    call.set_exception(StorageError("redis: connection lost"))
    with pytest.raises(StorageError):
        await waiter
    assert not locks.held(b"s") and locks.token(b"s") is None
    # the script may have run before the connection went: the release is sent anyway
    assert await soon(store.released.get()) == (b"s", token)
    await locks.close()


async def test_a_lock_held_by_another_daemon_is_polled_until_it_comes_free() -> None:
    locks, store = table()
    a = Owner("a")
    waiter = locks.acquire(b"s", a, 0.0)
    assert waiter is not None
    _, token, call = await soon(store.calls.get())
    call.set_result((False, None))  # another daemon holds it
    _, again, call = await soon(store.calls.get())  # tried again, under the same token
    assert again == token and not waiter.done()
    call.set_result((True, {b"k": b"1"}))
    assert await waiter is True and locks.take_loaded(b"s", a) == {b"k": b"1"}
    await locks.close()


async def test_polling_a_lock_held_elsewhere_ends_at_the_lock_timeout() -> None:
    locks, store = table(timeout=0.02)
    a = Owner("a")
    waiter = locks.acquire(b"s", a, 0.0)
    assert waiter is not None

    async def refuse() -> None:
        while True:
            _, _, call = await store.calls.get()
            call.set_result((False, None))

    refusing = asyncio.get_running_loop().create_task(refuse())
    assert await waiter is False
    refusing.cancel()
    assert not locks.held(b"s") and locks.timeouts_total == 1
    await locks.close()


async def test_owners_of_one_daemon_queue_here_and_share_one_store_lock() -> None:
    locks, store = table()
    a, b = Owner("a"), Owner("b")
    first = locks.acquire(b"s", a, 0.0)
    second = locks.acquire(b"s", b, 0.0)
    assert first is not None and second is not None
    _, token, call = await soon(store.calls.get())
    call.set_result((True, None))
    assert await first is True
    locks.release(b"s", a)
    assert await second is True and locks.holds(b"s", b)
    assert locks.token(b"s") == token and store.calls.empty()  # handed on, no store call
    await locks.close()
