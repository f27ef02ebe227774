"""The storage contract, run against every container (after Django's SessionTestsMixin).

Times are passed in explicitly, so expiry is tested without sleeping.  They start at the real
clock: the network stores also set their native TTLs (relative to ``now``), which must not
lapse in the middle of a test.  Redis and PostgreSQL are the real servers of this machine, each
test under its own key prefix or schema.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from sessionserver.storage import (
    InlineStorage,
    SharedStorage,
    Storage,
    StorageOptions,
    open_storage,
)
from sessionserver.storage.memory import MemoryStorage

from ..helpers import wait_until_async
from ..stores import (
    drop_postgres_schema,
    drop_redis_prefix,
    postgres_storage_url,
    redis_storage_url,
    unique_name,
)

pytestmark = pytest.mark.anyio

#: ``*_cold``: the embedded containers holding every session but the last one used as a record
#: (see storage/index.py), not as an entry.
CONTAINERS = [
    "memory",
    "memory_cold",
    "file",
    "sqlite",
    "sqlite_cold",
    "redis",
    "redis_cluster",
    "postgres",
]
#: Containers several daemons may share (locks and the user index live in the store).
SHARED = ["redis", "redis_cluster", "postgres"]

T0 = float(int(time.time()))
A = b"0123456789abcdef0123456789abcdef"
B = b"fedcba9876543210fedcba9876543210"


#: The running Redis Cluster's URL, once a test asked for it (see the ``redis_cluster`` fixture).
_cluster: list[str] = []


def _url(name: str, tmp_path: Path, unique: str = "") -> str:
    if name == "redis_cluster":
        return redis_storage_url(unique, _cluster[0])
    return {
        "memory": "memory://",
        "memory_cold": "memory://",
        "sqlite_cold": f"sqlite://{tmp_path}/sessions.db",
        "file": f"file://{tmp_path}/files",
        "sqlite": f"sqlite://{tmp_path}/sessions.db",
        "redis": redis_storage_url(unique),
        "postgres": postgres_storage_url(unique),
    }[name]


def _drop(name: str, unique: str) -> None:
    if name == "redis":
        drop_redis_prefix(unique)
    elif name == "redis_cluster":
        drop_redis_prefix(unique, _cluster[0])
    elif name == "postgres":
        drop_postgres_schema(unique)


def _needs(name: str, request: pytest.FixtureRequest) -> None:
    if name == "redis_cluster" and not _cluster:
        _cluster.append(request.getfixturevalue("redis_cluster"))


Factory = Callable[..., Awaitable[Storage]]
SharedFactory = Callable[..., Awaitable[SharedStorage]]
#: Containers whose store drops expired sessions by itself (Redis's TTLs): nothing to purge.
NATIVE_EXPIRY = {"redis", "redis_cluster"}


def _names(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*"))


async def _factory(name: str, tmp_path: Path) -> AsyncIterator[Factory]:
    opened: list[Storage] = []
    unique = unique_name("contract")

    async def factory(
        ttl: int = 100, max_lifetime: int | None = None, user_keys: tuple[bytes, ...] = ()
    ) -> Storage:
        storage = open_storage(
            _url(name, tmp_path, unique),
            StorageOptions(ttl=ttl, max_lifetime=max_lifetime, user_keys=user_keys),
        )
        await storage.start()
        opened.append(storage)
        if name.endswith("_cold"):
            assert isinstance(storage, MemoryStorage)
            storage.index.hot_limit = 0
        return storage

    try:
        yield factory
    finally:
        for storage in opened:
            await storage.stop()
        _drop(name, unique)


@pytest.fixture(params=CONTAINERS)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    _needs(request.param, request)
    async for factory in _factory(request.param, tmp_path):
        yield factory


@pytest.fixture(params=SHARED)
async def make_shared(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SharedFactory]:
    """Two containers made by one of these factories share one store."""
    _needs(request.param, request)
    async for factory in _factory(request.param, tmp_path):

        async def shared(factory: Factory = factory, **options: object) -> SharedStorage:
            storage = await factory(**options)
            assert isinstance(storage, SharedStorage)
            return storage

        yield shared


async def test_each_container_is_of_the_kind_its_scheme_says(
    make: Factory, request: pytest.FixtureRequest
) -> None:
    """The daemon picks its strategy by these kinds, once, at start."""
    name = request.node.callspec.params["make"]
    s = await make()
    assert isinstance(s, SharedStorage) == (name in SHARED)
    assert isinstance(s, InlineStorage) == (name.split("_")[0] in ("memory", "sqlite"))


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


async def test_purge_reclaims_only_what_expired(
    make: Factory, request: pytest.FixtureRequest
) -> None:
    s = await make(ttl=10)
    await s.create(A, {}, T0)
    await s.create(B, {}, T0 + 5)
    # A store with native expiry reclaims by itself (tests/storage/test_redis.py watches it).
    one = 0 if request.node.callspec.params["make"] in NATIVE_EXPIRY else 1
    assert await s.purge_expired(T0 + 5) == 0
    assert await s.purge_expired(T0 + 12) == one
    assert await s.count(T0 + 12) == 1
    assert await s.load(B, T0 + 12) is not None
    assert await s.purge_expired(T0 + 100) == one
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


async def test_create_may_give_the_session_its_own_idle_lifetime(make: Factory) -> None:
    s = await make(ttl=10)
    assert await s.create(A, {b"k": b"v"}, T0, 100)
    assert await s.get_ttl(A, T0 + 5) == pytest.approx(95)
    assert await s.load(A, T0 + 50) == {b"k": b"v"}  # past the default ttl
    assert not await s.create(A, {b"k": b"other"}, T0 + 50, 5)  # still create-if-absent
    assert await s.get_ttl(A, T0 + 50) == pytest.approx(100)
    assert await s.load(A, T0 + 151) is None


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


PERSISTENT = [name for name in CONTAINERS if not name.startswith("memory")]


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Iterator[str]:
    _needs(request.node.callspec.params["name"], request)
    name = unique_name("restart")
    yield name
    _drop(request.node.callspec.params["name"], name)


@pytest.mark.parametrize("name", PERSISTENT)
async def test_persistent_containers_keep_everything_across_a_restart(
    name: str, tmp_path: Path, unique: str
) -> None:
    now = time.time()
    url = _url(name, tmp_path, unique)
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


@pytest.mark.parametrize("name", PERSISTENT)
async def test_expired_sessions_are_dropped_at_start(
    name: str, tmp_path: Path, unique: str
) -> None:
    url = _url(name, tmp_path, unique)
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


async def test_peek_is_not_an_access(make: Factory) -> None:
    s = await make(ttl=10)
    await s.create(A, {b"k": b"v"}, T0)
    found = await s.peek(A, T0 + 9)
    assert found is not None
    data, left = found
    assert data == {b"k": b"v"} and left == pytest.approx(1)
    assert await s.load(A, T0 + 10.5) is None  # the peek did not slide the expiry
    assert await s.peek(A, T0 + 10.5) is None


async def test_scan_visits_every_live_session(make: Factory) -> None:
    s = await make(ttl=10)
    live = {b"%032x" % (0xABC000 + i) for i in range(25)}
    for sid in live:
        await s.create(sid, {b"n": sid}, T0 + 5)
    await s.create(A, {}, T0)  # expired by T0 + 12
    seen: list[bytes] = []
    cursor = 0
    # A shared store's SCAN walks the whole database (other prefixes too), ten keys a step:
    # the bound is for a cursor that never comes back, not for a database of any size.
    for _ in range(100_000):
        cursor, ids = await s.scan(cursor, 10, T0 + 12)
        seen.extend(ids)
        if cursor == 0:
            break
    assert cursor == 0
    assert set(seen) == live


# -- containers several daemons share: locks, fencing and the user index live in the store ----


async def test_a_lock_is_exclusive_across_containers(make_shared: SharedFactory) -> None:
    one, two = await make_shared(), await make_shared()  # two daemons, one store
    assert await one.lock_acquire(A, b"t1", 5)
    assert not await two.lock_acquire(A, b"t2", 5)
    assert not await one.lock_acquire(A, b"t3", 5)  # not re-entrant: tokens are owners
    await two.lock_release(A, b"t2")  # not the holder: no effect
    assert await one.lock_renew([(A, b"t1"), (B, b"t1")], 5) == [True, False]
    assert await two.lock_renew([(A, b"t2")], 5) == [False]
    await one.lock_release(A, b"t1")
    assert await two.lock_acquire(A, b"t2", 5)
    assert await one.lock_acquire(B, b"t1", 5)  # locks are per session


async def test_a_lapsed_lease_frees_the_lock(make_shared: SharedFactory) -> None:
    one, two = await make_shared(), await make_shared()
    assert await one.lock_acquire(A, b"t1", 0.2)
    assert await one.lock_renew([(A, b"t1")], 0.2) == [True]
    assert not await two.lock_acquire(A, b"t2", 5)
    # The store's clock: a lapsed lease is gone.
    await wait_until_async(lambda: two.lock_acquire(A, b"t2", 5), what="the lease to lapse")
    assert await one.lock_renew([(A, b"t1")], 5) == [False]


async def test_a_save_is_fenced_by_the_lock_token(make_shared: SharedFactory) -> None:
    from sessionserver.storage import LockLost

    one, two = await make_shared(ttl=100), await make_shared(ttl=100)
    now = time.time()
    assert await one.create(A, {b"k": b"0"}, now)
    assert await one.lock_acquire(A, b"t1", 5)
    assert await one.save_and_release(A, b"t1", {b"k": b"1"}, now, None)
    assert await two.lock_acquire(A, b"t2", 0.2)  # released by the save
    await wait_until_async(lambda: one.lock_acquire(A, b"t1", 5), what="t2's lease to lapse")
    with pytest.raises(LockLost):
        await two.save_and_release(A, b"t2", {b"k": b"stale"}, now, None)
    assert await one.load(A, now) == {b"k": b"1"}  # the stale save changed nothing
    assert not await two.lock_acquire(A, b"t2", 5)  # nor released t1's lock
    assert await one.save_and_release(A, b"t1", {b"k": b"2"}, now, 7)
    assert await two.load(A, now) == {b"k": b"2"}
    assert await two.get_ttl(A, now) == pytest.approx(7, abs=0.01)  # the lifetime, same step
    assert await two.lock_acquire(A, b"t2", 5)


async def test_a_holders_save_of_a_deleted_session_brings_nothing_back(
    make_shared: SharedFactory,
) -> None:
    one, two = await make_shared(), await make_shared()
    now = time.time()
    assert await one.create(A, {b"k": b"0"}, now)
    assert await one.lock_acquire(A, b"t1", 5)
    assert await two.delete(A, now)
    assert not await one.save_and_release(A, b"t1", {b"k": b"1"}, now, 50)
    assert await two.load(A, now) is None
    assert await two.lock_acquire(A, b"t2", 5)  # released all the same


async def test_a_one_step_write_carries_the_lifetime(make_shared: SharedFactory) -> None:
    from sessionserver.storage.base import APPLIED

    s = await make_shared(ttl=100)
    now = time.time()
    assert await s.create(A, {b"k": b"0"}, now)
    code = await s.apply(
        A, {b"k": b"1"}, [], max_keys=10, max_session=1000, token=None, now=now, ttl=9
    )
    if code is None:  # no such step here (the daemon takes the lock): nothing was done
        assert await s.load(A, now) == {b"k": b"0"}
        assert await s.get_ttl(A, now) == pytest.approx(100, abs=0.01)
        return
    assert code == APPLIED
    assert await s.load(A, now) == {b"k": b"1"}
    assert await s.get_ttl(A, now) == pytest.approx(9, abs=0.01)


async def test_the_user_index_follows_saves_renames_and_deletes(make_shared: SharedFactory) -> None:
    keys = (b"_user_id", b"_auth_user_id")
    one, two = await make_shared(user_keys=keys), await make_shared(user_keys=keys)
    now = time.time()
    c = b"%032x" % 0xC
    await one.create(A, {b"_user_id": b'"42"'}, now)
    await one.create(B, {b"_auth_user_id": b"42", b"x": b"1"}, now)
    await one.create(c, {b"_user_id": b"7"}, now)
    await one.create(b"%032x" % 0xD, {b"x": b"no user"}, now)
    assert sorted(await two.user_sessions(b"42", now)) == sorted([A, B])
    assert await two.user_sessions(b'"42"', now) == await two.user_sessions(b"42", now)
    await two.save(A, {b"_user_id": b"7"}, now)  # A changes hands
    assert await one.user_sessions(b"42", now) == [B]
    assert sorted(await one.user_sessions(b"7", now)) == sorted([A, c])
    assert await one.rename(B, b"%032x" % 0xE, now)
    assert await two.user_sessions(b"42", now) == [b"%032x" % 0xE]
    assert await two.delete(b"%032x" % 0xE, now)
    assert await one.user_sessions(b"42", now) == []
    await one.save(c, {b"x": b"logged out"}, now)
    assert await two.user_sessions(b"7", now) == [A]


async def test_an_empty_user_is_no_user(make_shared: SharedFactory) -> None:
    """As ``base.user_id`` says, through a create, a whole save and a one-step write."""
    from sessionserver.storage.base import APPLIED

    s = await make_shared(user_keys=(b"_user_id",))
    now = time.time()
    c = b"%032x" % 0xC
    await s.create(A, {b"_user_id": b'""'}, now)
    await s.create(B, {b"_user_id": b"7"}, now)
    await s.save(B, {b"_user_id": b""}, now)
    await s.create(c, {b"_user_id": b"8"}, now)
    code = await s.apply(
        c, {b"_user_id": b'""'}, [], max_keys=10, max_session=1000, token=None, now=now, ttl=None
    )
    assert code in (None, APPLIED)
    assert await s.user_sessions(b"", now) == []
    assert await s.user_sessions(b'""', now) == []
    assert await s.user_sessions(b"7", now) == []
    if await s.load(c, now) == {b"_user_id": b'""'}:  # applied (not None: no such step)
        assert await s.user_sessions(b"8", now) == []
