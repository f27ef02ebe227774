"""The storage contract, run against every container (after Django's SessionTestsMixin).

Times are passed in explicitly, so expiry is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sessionserver.storage import Storage, StorageOptions, open_storage

pytestmark = pytest.mark.anyio

CONTAINERS = ["memory", "file", "sqlite"]

T0 = 1_000_000.0
A = b"0123456789abcdef0123456789abcdef"
B = b"fedcba9876543210fedcba9876543210"


def _url(name: str, tmp_path: Path) -> str:
    return {
        "memory": "memory://",
        "file": f"file://{tmp_path}/files",
        "sqlite": f"sqlite://{tmp_path}/sessions.db",
    }[name]


Factory = Callable[..., Awaitable[Storage]]


def _names(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*"))


@pytest.fixture(params=CONTAINERS)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    opened: list[Storage] = []

    async def factory(ttl: int = 100, max_lifetime: int | None = None) -> Storage:
        storage = open_storage(
            _url(request.param, tmp_path), StorageOptions(ttl=ttl, max_lifetime=max_lifetime)
        )
        await storage.start()
        opened.append(storage)
        return storage

    yield factory
    for storage in opened:
        await storage.stop()


async def test_create_then_load(make: Factory) -> None:
    s = await make()
    assert await s.create(A, {b"k": b"v"}, T0)
    assert await s.load(A, T0 + 1) == {b"k": b"v"}
    assert await s.count(T0 + 1) == 1


async def test_create_is_create_if_absent(make: Factory) -> None:
    s = await make()
    assert await s.create(A, {b"first": b"1"}, T0)
    assert not await s.create(A, {b"second": b"2"}, T0)
    assert await s.load(A, T0) == {b"first": b"1"}


async def test_concurrent_creates_of_one_id_succeed_once(make: Factory) -> None:
    s = await make()
    results = await asyncio.gather(*(s.create(A, {b"n": b"%d" % i}, T0) for i in range(10)))
    assert sorted(results) == [False] * 9 + [True]


async def test_loading_an_unknown_id_creates_nothing(make: Factory) -> None:
    s = await make()
    assert await s.load(A, T0) is None
    assert await s.get_ttl(A, T0) is None
    assert await s.count(T0) == 0


async def test_save_is_update_if_present(make: Factory) -> None:
    s = await make()
    assert not await s.save(A, {b"k": b"v"}, T0)
    assert await s.load(A, T0) is None
    assert await s.create(A, {b"k": b"v"}, T0)
    assert await s.save(A, {b"k": b"w", b"n": b"1"}, T0)
    assert await s.load(A, T0) == {b"k": b"w", b"n": b"1"}


async def test_no_resurrection_after_delete(make: Factory) -> None:
    s = await make()
    await s.create(A, {b"k": b"v"}, T0)
    assert await s.delete(A, T0)
    assert not await s.save(A, {b"k": b"late"}, T0)
    assert await s.load(A, T0) is None
    assert not await s.delete(A, T0)


async def test_rename_moves_the_data_atomically(make: Factory) -> None:
    s = await make()
    await s.create(A, {b"k": b"v"}, T0)
    assert await s.rename(A, B, T0 + 1)
    assert await s.load(A, T0 + 1) is None
    assert await s.load(B, T0 + 1) == {b"k": b"v"}
    assert not await s.rename(A, B, T0 + 1)  # old gone
    await s.create(A, {}, T0 + 1)
    assert not await s.rename(A, B, T0 + 1)  # new taken
    assert await s.load(A, T0 + 1) == {}


async def test_idle_expiry_slides_on_access(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {b"k": b"v"}, T0)
    assert await s.load(A, T0 + 9) == {b"k": b"v"}  # slides to T0 + 19
    assert await s.get_ttl(A, T0 + 10) == pytest.approx(9)
    assert await s.load(A, T0 + 18) is not None
    assert await s.load(A, T0 + 28.5) is None
    assert await s.count(T0 + 28.5) == 0


async def test_save_refreshes_expiry(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {}, T0)
    assert await s.save(A, {b"k": b"v"}, T0 + 8)
    assert await s.load(A, T0 + 17) == {b"k": b"v"}


async def test_expired_equals_absent(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {b"k": b"v"}, T0)
    later = T0 + 11
    assert await s.load(A, later) is None
    assert not await s.save(A, {b"k": b"late"}, later)
    assert not await s.delete(A, later)
    assert not await s.rename(A, B, later)
    assert not await s.set_ttl(A, 100, later)
    assert await s.get_ttl(A, later) is None
    assert await s.create(A, {b"fresh": b"1"}, later)  # the id is free again
    assert await s.load(A, later) == {b"fresh": b"1"}


async def test_purge_reclaims_only_what_expired(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {}, T0)
    await s.create(B, {}, T0 + 5)
    assert await s.purge_expired(T0 + 5) == 0
    assert await s.purge_expired(T0 + 12) == 1
    assert await s.load(B, T0 + 12) is not None
    assert await s.purge_expired(T0 + 100) == 1
    assert await s.count(T0 + 100) == 0


async def test_absolute_lifetime_is_not_extended_by_access(make: Factory) -> None:
    s = await make(ttl=10, max_lifetime=15)
    await s.create(A, {}, T0)
    for t in range(1, 15, 3):
        assert await s.load(A, T0 + t) is not None
    assert await s.get_ttl(A, T0 + 13) == pytest.approx(2)
    assert await s.load(A, T0 + 15) is None


async def test_set_ttl_gives_a_session_its_own_idle_lifetime(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {b"k": b"v"}, T0)
    await s.create(B, {}, T0)
    assert await s.set_ttl(A, 100, T0 + 5)
    assert await s.get_ttl(A, T0 + 5) == pytest.approx(100)
    assert await s.load(A, T0 + 50) == {b"k": b"v"}
    assert await s.load(B, T0 + 50) is None
    assert await s.set_ttl(A, 1, T0 + 50)
    assert await s.load(A, T0 + 52) is None


async def test_gc_deletes_sessions_idle_longer_than_asked(make: Factory) -> None:
    s = await make(ttl=100)
    await s.create(A, {}, T0)
    await s.create(B, {}, T0 + 30)
    assert await s.gc(20, T0 + 40) == 1
    assert await s.load(A, T0 + 40) is None
    assert await s.load(B, T0 + 40) is not None
    assert await s.gc(20, T0 + 41) == 0


@pytest.mark.parametrize(
    "bad",
    [b"../../etc/passwd", b"..", b"a/b/c/d/e/f/g/h", b"short", b"x" * 200, b"sess_\x00xxxxxx"],
)
async def test_invalid_ids_never_reach_storage(make: Factory, bad: bytes, tmp_path: Path) -> None:
    s = await make()
    before = _names(tmp_path)
    assert not await s.create(bad, {b"k": b"v"}, T0)
    assert await s.load(bad, T0) is None
    assert not await s.save(bad, {}, T0)
    assert not await s.delete(bad, T0)
    await s.create(A, {}, T0)
    assert not await s.rename(A, bad, T0)
    assert await s.count(T0) == 1
    after = [n for n in _names(tmp_path) if A.decode() not in n]
    assert [n for n in after if n not in before and not n.startswith("sessions.db")] == []


async def test_values_are_binary_safe(make: Factory) -> None:
    s = await make()
    data = {b"k\x00": b"\x00\r\n\xff" * 50, "ключ".encode(): "значение".encode(), b"e": b""}
    await s.create(A, data, T0)
    assert await s.load(A, T0) == data


async def test_a_large_session(make: Factory) -> None:
    s = await make()
    data = {b"k%d" % i: b"v" * 1000 for i in range(1000)}
    await s.create(A, data, T0)
    assert await s.load(A, T0) == data


@pytest.mark.parametrize("name", ["file", "sqlite"])
async def test_persistent_containers_keep_everything_across_a_restart(
    name: str, tmp_path: Path
) -> None:
    now = time.time()
    url = _url(name, tmp_path)
    s = open_storage(url, StorageOptions(ttl=100, max_lifetime=1000))
    await s.start()
    await s.create(A, {b"k": b"v"}, now)
    await s.create(B, {b"gone": b"1"}, now)
    await s.set_ttl(A, 50, now)
    await s.delete(B, now)
    await s.stop()
    again = open_storage(url, StorageOptions(ttl=100, max_lifetime=1000))
    await again.start()
    try:
        assert await again.load(B, now) is None
        assert await again.get_ttl(A, now) == pytest.approx(50, abs=1)
        assert await again.load(A, now) == {b"k": b"v"}
        assert await again.load(A, now + 1001) is None  # the absolute deadline survived too
    finally:
        await again.stop()


@pytest.mark.parametrize("name", ["file", "sqlite"])
async def test_expired_sessions_are_dropped_at_start(name: str, tmp_path: Path) -> None:
    url = _url(name, tmp_path)
    s = open_storage(url, StorageOptions(ttl=10))
    await s.start()
    await s.create(A, {}, time.time() - 60)
    await s.create(B, {}, time.time())
    await s.stop()
    again = open_storage(url, StorageOptions(ttl=10))
    await again.start()
    try:
        assert await again.count(time.time()) == 1
    finally:
        await again.stop()
